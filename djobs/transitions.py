"""Deciding what happens to a job after one attempt: pure functions, no database.

``decide(job, execution, now)`` turns what the job returned or raised into a
:class:`Transition`: the row's next state and the changes that go with it.
The dispatcher writes transitions back in batches (``DatabaseOps.job_record_outcomes``);
the testing helpers apply the same decisions, so both agree by construction.

=====================  ===========  ==============================================
The job...             next state   notes
=====================  ===========  ==============================================
returns a value        completed    the value is kept as ``result``
returns/raises Snooze  scheduled    ``attempt`` is given back (not a failed attempt)
returns/raises Cancel  cancelled    reason kept as an error entry
returns/raises Discard discarded    reason kept as an error entry
is interrupted         available    at shutdown, in ctx.each/ctx.checkpoint: ``attempt``
                                    given back, up to MAX_INTERRUPTIONS times
raises anything else   retryable    error entry; due after the backoff
... on its last try    discarded    when ``attempt >= max_attempts``
is not registered      discarded    nothing is imported
=====================  ===========  ==============================================
"""

from __future__ import annotations

import json
import traceback as tb_module
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .backoff import default_backoff
from .durable.errors import Interrupted
from .exceptions import UnknownJobError
from .outcomes import Cancel, Discard, Snooze
from .states import JobState
from .storable import storable_entry, storable_json, storable_text

if TYPE_CHECKING:
    from .models import Job
    from .worker.executor import Execution

# Outcome names, as sent with the job_finished signal and logged.
COMPLETED = "completed"
SNOOZED = "snoozed"
CANCELLED = "cancelled"
DISCARDED = "discarded"
RETRIED = "retryable"
# A failure on the last attempt: the job is discarded.
EXHAUSTED = "exhausted"
# Stopped at shutdown at a safe point of ctx.each/ctx.checkpoint; runs again at once.
INTERRUPTED = "interrupted"

NOT_JSON_NOTE = "the return value is not JSON-serialisable; its repr is kept instead"
_REPR_LIMIT = 2000


@dataclass(frozen=True)
class Transition:
    """The changes one attempt makes to its job row.

    ``attempt_delta`` is -1 for a snooze (the attempt is given back), else 0.
    ``scheduled_at`` is None when it does not change; ``error`` is an entry to
    append to ``errors``, or None.
    """

    state: str
    outcome: str
    finished_at: datetime | None = None
    scheduled_at: datetime | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    attempt_delta: int = 0
    #: Seconds the attempt ran, for the worker's run-time histogram (not stored).
    duration: float = field(default=0.0, compare=False)

    @property
    def is_terminal(self) -> bool:
        return self.state in (JobState.COMPLETED, JobState.DISCARDED, JobState.CANCELLED)


def storable_result(value: Any) -> Any:
    """Return ``value`` as it will be stored: itself if JSON keeps it, else a repr with a note.

    Characters no database can store in JSON (NUL, lone surrogates) are
    escaped as backslash text (djobs.storable).
    """
    if value is None or isinstance(value, int | bool):
        return value
    if isinstance(value, str):
        return storable_text(value)
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return {"repr": storable_text(repr(value)[:_REPR_LIMIT]), "note": NOT_JSON_NOTE}
    return storable_json(json.loads(text), text)


def error_entry(
    attempt: int, now: datetime, error: str, traceback: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Return one entry of a job's ``errors`` list, with texts every database can store."""
    entry = {"attempt": attempt, "at": now.isoformat(), "error": error, "traceback": traceback}
    entry.update(extra)
    return storable_entry(entry)


def describe(exc: BaseException) -> str:
    """Return ``"Type: message"`` for an exception."""
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def format_traceback(exc: BaseException) -> str:
    """Return the formatted traceback of ``exc``."""
    return "".join(tb_module.format_exception(type(exc), exc, exc.__traceback__))


def retry_delay(job: Job, backoff: Callable[[int], float] | None) -> float:
    """Return seconds until the next attempt of ``job`` after a failure."""
    if backoff is None:
        return default_backoff(job.attempt)
    seconds = float(backoff(job.attempt))
    if seconds != seconds or seconds < 0:  # NaN or negative: a buggy backoff must not stall
        return default_backoff(job.attempt)
    return seconds


def decide(
    job: Job,
    execution: Execution,
    now: datetime,
    backoff: Callable[[int], float] | None = None,
) -> Transition:
    """Return the transition for ``job`` after ``execution`` ended at ``now``.

    ``backoff`` is the job's own ``@job(backoff=...)``, if any; when None and
    the job is registered, the registered function's backoff is used.
    """
    outcome = execution.outcome
    if outcome is None and not execution.failed:
        return Transition(
            JobState.COMPLETED,
            COMPLETED,
            finished_at=now,
            result=storable_result(execution.value),
            duration=execution.duration,
        )
    return replace(_decide_other(job, execution, now, backoff), duration=execution.duration)


def _decide_other(
    job: Job, execution: Execution, now: datetime, backoff: Callable[[int], float] | None
) -> Transition:
    outcome = execution.outcome
    if isinstance(outcome, Snooze):
        return _snooze(outcome, now)
    if isinstance(outcome, Cancel):
        entry = error_entry(
            job.attempt, now, f"Cancelled: {outcome.reason}".rstrip(": "), worker_id=job.worker_id
        )
        return Transition(JobState.CANCELLED, CANCELLED, finished_at=now, error=entry)
    if isinstance(outcome, Discard):
        entry = error_entry(
            job.attempt, now, f"Discarded: {outcome.reason}".rstrip(": "), worker_id=job.worker_id
        )
        return Transition(JobState.DISCARDED, DISCARDED, finished_at=now, error=entry)
    exc = execution.exception
    if isinstance(exc, Interrupted):
        return interrupted(job, exc, now)
    if exc is None:  # returned a bare Outcome that is none of the three
        exc = TypeError(f"{outcome!r} is not an outcome djobs knows; use Snooze, Cancel or Discard")
    entry = error_entry(
        job.attempt,
        now,
        describe(exc),
        execution.traceback,
        exception=f"{type(exc).__module__}.{type(exc).__qualname__}",
        worker_id=job.worker_id,
    )
    if isinstance(exc, UnknownJobError):
        return Transition(JobState.DISCARDED, DISCARDED, finished_at=now, error=entry)
    if job.attempt >= job.max_attempts:
        return Transition(JobState.DISCARDED, EXHAUSTED, finished_at=now, error=entry)
    if backoff is None:
        backoff = _registered_backoff(job.path)
    delay = retry_delay(job, backoff)
    return Transition(JobState.RETRYABLE, RETRIED, scheduled_at=now + timedelta(seconds=delay), error=entry)


def _snooze(outcome: Snooze, now: datetime) -> Transition:
    # A snooze is not a failure: the attempt is given back, so a job can snooze
    # any number of times without running out of attempts.
    if outcome.seconds <= 0:
        return Transition(JobState.AVAILABLE, SNOOZED, scheduled_at=now, attempt_delta=-1)
    return Transition(
        JobState.SCHEDULED,
        SNOOZED,
        scheduled_at=now + timedelta(seconds=outcome.seconds),
        attempt_delta=-1,
    )


def interrupted(job: Job, exc: Interrupted, now: datetime) -> Transition:
    """Return the transition of a job interrupted at shutdown: available again at once.

    Its attempt is given back, like a snooze, for the first ``max_interruptions``
    interruptions; after that each one counts as an attempt, and on the last
    attempt the job is discarded, so a job that never finishes between two
    deploys cannot run forever.
    """
    if exc.interruptions <= exc.max_interruptions:
        return Transition(JobState.AVAILABLE, INTERRUPTED, scheduled_at=now, attempt_delta=-1)
    entry = error_entry(
        job.attempt,
        now,
        f"Interrupted {exc.where}: interrupted {exc.interruptions} times, more than "
        f"MAX_INTERRUPTIONS ({exc.max_interruptions}), so this one used up attempt {job.attempt}",
        exception="djobs.durable.Interrupted",
        worker_id=job.worker_id,
    )
    if job.attempt >= job.max_attempts:
        return Transition(JobState.DISCARDED, EXHAUSTED, finished_at=now, error=entry)
    return Transition(JobState.AVAILABLE, INTERRUPTED, scheduled_at=now, error=entry)


def _registered_backoff(path: str) -> Callable[[int], float] | None:
    from . import registry

    try:
        return registry.lookup(path).backoff
    except UnknownJobError:
        return None


__all__ = [
    "Transition",
    "decide",
    "describe",
    "error_entry",
    "format_traceback",
    "interrupted",
    "storable_result",
]
