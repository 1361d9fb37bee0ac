"""The errors djobs raises; each says what went wrong and how to fix it."""

from __future__ import annotations


class DjobsError(Exception):
    """Base class of every djobs error."""


class UnknownJobError(DjobsError, LookupError):
    """No ``@job`` function is registered under this path; djobs never imports it blindly."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"No @job function is registered as {path!r}. Decorate it with @djobs.job in a "
            "module that is imported at start-up (an installed app's jobs.py is autodiscovered)."
        )
        self.path = path


class UnknownTaskError(UnknownJobError):
    """A django.tasks Task cannot run from its stored path: module not allowed, not importable, or no Task."""

    def __init__(self, path: str, why: str) -> None:
        LookupError.__init__(self, f"django.tasks Task {path!r} cannot run: {why}")
        self.path = path


class JobDefinitionError(DjobsError, TypeError):
    """A function cannot be a job (not module-level, bad decorator options)."""


class EnqueueError(DjobsError, ValueError):
    """An enqueue option is out of range; nothing was written."""


class NotJSONError(DjobsError, TypeError):
    """A value has no JSON form (a set, a date, NaN, a non-string key): it would not come back as given."""


class UnstorableValueError(DjobsError, ValueError):
    """A JSON value djobs will not store: a NUL or lone surrogate, nesting too deep, arguments too large."""


class JobInterrupted(BaseException):
    """Raised inside a running job by the dispatcher: its timeout passed, or it was cancelled.

    A ``BaseException``, like ``KeyboardInterrupt``: ``except Exception`` in job
    code must not swallow it and keep the thread (and its slot) busy. Every
    exception the dispatcher injects into a job's thread derives from it.
    """


class JobTimeout(JobInterrupted):
    """Raised inside a job's thread when it runs past its ``timeout``; recorded as a failed attempt."""


class WorkerReleased(DjobsError):
    """The job was released at shutdown before it finished; it will run again."""


class WorkerLost(DjobsError):
    """The worker running the job stopped heartbeating; the job was rescued by another."""


class JobCancelled(JobInterrupted):
    """The job was cancelled by an operator (the admin, ``jobs cancel``, ``djobs.operations.cancel``).

    Recorded as the last error of every job an operator cancels, and raised
    inside a running one to stop it (``JobContext.check_cancelled()`` raises it
    too). It never leads to a retry: the row is ``cancelled`` already.
    """


class OutcomeNotStored(DjobsError):
    """The database refused to store what the job returned or raised; the job was discarded."""
