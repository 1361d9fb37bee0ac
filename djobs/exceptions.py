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


class JobDefinitionError(DjobsError, TypeError):
    """A function cannot be a job (not module-level, bad decorator options)."""


class EnqueueError(DjobsError, ValueError):
    """An enqueue option is out of range; nothing was written."""


class JobTimeout(DjobsError):
    """Raised inside a job's thread when it runs past its ``timeout``."""


class WorkerReleased(DjobsError):
    """The job was released at shutdown before it finished; it will run again."""
