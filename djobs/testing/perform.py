"""``perform_job``: run one job now, in the test, exactly as a worker would, and say how it ended."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from .. import registry
from ..conf import get_settings
from ..durable.errors import Interrupted
from ..enqueue import PendingJob
from ..exceptions import UnknownJobError
from ..outcomes import Outcome
from ..states import JobState
from ..transitions import CANCELLED, COMPLETED, EXHAUSTED, INTERRUPTED, RETRIED, SNOOZED, Transition
from .matching import job_path
from .running import guarded_run

if TYPE_CHECKING:
    from datetime import datetime

    from ..decorators import Enqueuer
    from ..models import Job
    from ..worker.executor import Execution


@dataclass(frozen=True)
class PerformResult:
    """How one run of a job ended, as the worker would record it.

    ``state`` is the row's next state (``"completed"``, ``"scheduled"`` after a
    snooze, ``"retryable"``, ``"discarded"``, ``"cancelled"``); ``value`` is what
    the function returned; ``outcome`` the Snooze/Cancel/Discard it returned or
    raised; ``exception`` any other exception it raised and ``error`` the text
    kept in the row's ``errors``.
    """

    job: Job
    execution: Execution
    transition: Transition

    @property
    def state(self) -> str:
        return self.transition.state

    @property
    def value(self) -> Any:
        return self.execution.value

    @property
    def result(self) -> Any:
        """Return the value as stored in ``Job.result`` (JSON, or a repr with a note)."""
        return self.transition.result

    @property
    def outcome(self) -> Outcome | None:
        return self.execution.outcome

    @property
    def exception(self) -> BaseException | None:
        return self.execution.exception if self.execution.failed else None

    @property
    def error(self) -> str | None:
        return None if self.transition.error is None else str(self.transition.error["error"])

    @property
    def traceback(self) -> str | None:
        return self.execution.traceback

    @property
    def scheduled_at(self) -> datetime | None:
        """Return when the job would run again (snoozed or retryable), else None."""
        return self.transition.scheduled_at

    @property
    def completed(self) -> bool:
        return self.transition.outcome == COMPLETED

    @property
    def snoozed(self) -> bool:
        return self.transition.outcome == SNOOZED

    @property
    def cancelled(self) -> bool:
        return self.transition.outcome == CANCELLED

    @property
    def discarded(self) -> bool:
        """Say whether the job ends discarded: it returned Discard or failed its last attempt."""
        return self.transition.state == JobState.DISCARDED

    @property
    def retryable(self) -> bool:
        return self.transition.outcome == RETRIED

    @property
    def exhausted(self) -> bool:
        return self.transition.outcome == EXHAUSTED

    @property
    def interrupted(self) -> bool:
        """Say whether the job was interrupted (a shutdown, interrupt_job): it resumes from its progress."""
        return self.transition.outcome == INTERRUPTED

    @property
    def failed(self) -> bool:
        """Say whether the job raised an exception other than an outcome or an interruption."""
        return self.execution.failed and not isinstance(self.execution.exception, Interrupted)

    def raise_if_failed(self) -> None:
        """Re-raise the exception the job raised, if any (not outcomes, not an interruption)."""
        if self.failed and self.execution.exception is not None:
            raise self.execution.exception

    def __repr__(self) -> str:
        detail = f" {self.error}" if self.error else f" value={self.value!r}"
        return f"<PerformResult {self.job.path} {self.transition.outcome}:{detail}>"


def _job_function(job: Any) -> Enqueuer[Any, Any]:
    if hasattr(job, "new") and hasattr(job, "options"):
        return job  # a @job function, or one with .using(...) options
    path = job_path(job)
    try:
        return registry.lookup(path)
    except UnknownJobError:
        close = difflib.get_close_matches(path, registry.registered_paths(), n=1, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        error = UnknownJobError(path)
        if hint:
            error.add_note(hint.strip())
        raise error from None


def build_job(
    job: Any,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    attempt: int = 1,
    max_attempts: int | None = None,
    queue: str | None = None,
    priority: int | None = None,
    meta: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
) -> Job:
    """Return the unsaved, executing Job row ``perform_job`` runs (validated as at enqueue)."""
    from ..models import Job

    if isinstance(args, str | bytes) or not isinstance(args, Sequence):
        raise TypeError(f"perform_job(args={args!r}): pass a list of positional arguments.")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise TypeError(f"perform_job(kwargs={kwargs!r}): pass a dict of keyword arguments.")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"perform_job(attempt={attempt!r}): use an integer of at least 1.")
    if isinstance(job, PendingJob):
        if args or kwargs:
            raise TypeError("perform_job(fn.new(...)) already holds the arguments; pass no args/kwargs.")
        pending = job
    else:
        options = {
            name: value
            for name, value in (
                ("max_attempts", max_attempts),
                ("queue", queue),
                ("priority", priority),
                ("meta", meta),
                ("tags", tags),
            )
            if value is not None
        }
        enqueuer = _job_function(job)
        if options:
            enqueuer = enqueuer.using(**options)
        pending = enqueuer.new(*args, **dict(kwargs or {}))
    limit = pending.max_attempts
    if max_attempts is None and attempt > limit:
        limit = attempt
    if attempt > limit:
        raise ValueError(
            f"perform_job(attempt={attempt}) is past max_attempts={limit}; raise max_attempts too."
        )
    now = timezone.now()
    return Job(
        state=JobState.EXECUTING,
        queue=pending.queue,
        path=pending.path,
        args=pending.args,
        kwargs=pending.kwargs,
        meta=pending.meta,
        tags=pending.tags,
        priority=pending.priority,
        attempt=attempt,
        max_attempts=limit,
        inserted_at=pending.inserted_at,
        scheduled_at=pending.scheduled_at,
        attempted_at=now,
        worker_id="perform_job",
    )


def perform_job(
    job: Any,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    attempt: int = 1,
    max_attempts: int | None = None,
    queue: str | None = None,
    priority: int | None = None,
    meta: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    with_safety: bool = True,
) -> PerformResult:
    """Run one job synchronously, as a worker would, and return how it ended.

    An ``async def`` job runs to its end here too (on an event loop of its own,
    through ``async_to_sync``); in async tests use :func:`aperform_job`.

    ::

        result = perform_job(send_invoice, kwargs={"invoice_id": 7})
        assert result.completed and result.value == "sent"
        assert perform_job(charge, [pay.id], attempt=3).snoozed

    ``job`` is a ``@job`` function (options bound with ``.using(...)`` apply), a
    django.tasks Task, a dotted path, or ``fn.new(...)``. Arguments go through
    the same validation and JSON round trip as at enqueue (a non-JSON value
    raises ``TypeError``); a ``takes_context`` job gets a ``JobContext`` whose
    row has ``attempt``/``max_attempts``/``meta`` as given. Nothing is written
    to the jobs table. ``with_safety=False`` re-raises the job's exception
    instead of returning it.
    """
    row = build_job(
        job,
        args,
        kwargs,
        attempt=attempt,
        max_attempts=max_attempts,
        queue=queue,
        priority=priority,
        meta=meta,
        tags=tags,
    )
    execution, transition = guarded_run(row, get_settings().DATABASE)
    result = PerformResult(row, execution, transition)
    if not with_safety:
        result.raise_if_failed()
    return result


async def aperform_job(
    job: Any, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, **options: Any
) -> PerformResult:
    """``perform_job`` for async tests: ``result = await aperform_job(deliver, ["https://..."])``.

    Same arguments and result. The helper's database work runs in Django's
    thread for sync code (``sync_to_async``); an async job is awaited on the
    test's own event loop, and its async ORM calls reach that same thread, so
    it sees the test's data and transaction.
    """
    from asgiref.sync import sync_to_async

    return await sync_to_async(perform_job, thread_sensitive=True)(job, args, kwargs, **options)


__all__ = ["PerformResult", "aperform_job", "build_job", "perform_job"]
