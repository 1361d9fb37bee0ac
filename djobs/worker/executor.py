"""Run ONE job in the current thread and say what happened.

``execute(job)`` is the whole contract between a row and its function: look
the path up in the registry (never import it), call ``job_function.func`` with
the row's arguments (a :class:`djobs.context.JobContext` first when
``takes_context``), and capture the value or the exception. ``run_job(job)``
adds the decision (``djobs.transitions.decide``) and the signals; the
dispatcher and the testing helpers both use it.

``aexecute``/``arun_job`` are the same contract for an event loop: an async
job is awaited there (the dispatcher's queue loops, ``aperform_job``), a sync
one runs through ``sync_to_async``. ``execute`` given an async job, from sync
code (the testing helpers), runs it with ``async_to_sync``.

An atomic job (``@job(atomic=True)``) runs through ``djobs.worker.atomic``:
its body and, given an ``AtomicCompletion`` (the dispatcher), its completion
commit in one transaction.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync, sync_to_async
from django.utils import timezone

from .. import registry, tracing
from ..context import JobContext, stop_request
from ..durable.progress import finish as finish_progress
from ..durable.progress import uses_progress
from ..exceptions import UnknownJobError
from ..outcomes import Outcome
from ..serialization import round_trip
from ..signals import job_finished, job_started
from ..states import JobState
from ..transitions import CANCELLED, Transition, decide, format_traceback
from . import atomic

if TYPE_CHECKING:
    from ..models import Job
    from .atomic import AtomicCompletion

logger = logging.getLogger("djobs")


@dataclass
class Execution:
    """What one call of a job function did.

    ``value`` is what it returned, ``exception`` what it raised (with its
    formatted ``traceback``); ``duration`` is in seconds.
    """

    value: Any = None
    exception: BaseException | None = None
    traceback: str | None = None
    duration: float = 0.0

    @property
    def outcome(self) -> Outcome | None:
        """Return the Snooze/Cancel/Discard the job returned or raised, if any."""
        if isinstance(self.value, Outcome):
            return self.value
        if isinstance(self.exception, Outcome):
            return self.exception
        return None

    @property
    def failed(self) -> bool:
        """Say whether the job raised something other than an outcome."""
        return self.exception is not None and not isinstance(self.exception, Outcome)


def execute(job: Job, *, round_trip_arguments: bool = True) -> Execution:
    """Run ``job``'s registered function in this thread and return what happened.

    Arguments go through the same JSON round trip as a stored row (pass
    ``round_trip_arguments=False`` for rows just read from the database). An
    unregistered path fails with :class:`djobs.UnknownJobError`, importing nothing.
    """
    started = time.perf_counter()
    try:
        job_function, args, kwargs = _prepare(job, round_trip_arguments)
        if job_function.is_async:
            value = async_to_sync(job_function.func)(*args, **kwargs)
        else:
            value = _not_awaitable(job, job_function.func(*args, **kwargs))
    except BaseException as exc:
        return _raised(exc, started)
    return Execution(value=value, duration=time.perf_counter() - started)


async def aexecute(job: Job, *, round_trip_arguments: bool = True) -> Execution:
    """Run ``job``'s registered function on the running event loop and return what happened.

    An async job is awaited here; a sync one runs through ``sync_to_async``.
    Cancelling the awaiting task (a timeout, a shutdown) ends the job with
    ``CancelledError`` as its exception.
    """
    started = time.perf_counter()
    try:
        job_function, args, kwargs = _prepare(job, round_trip_arguments)
        if job_function.is_async:
            value = await job_function.func(*args, **kwargs)
        else:
            value = _not_awaitable(job, await sync_to_async(job_function.func)(*args, **kwargs))
    except BaseException as exc:
        return _raised(exc, started)
    return Execution(value=value, duration=time.perf_counter() - started)


def _prepare(job: Job, round_trip_arguments: bool) -> tuple[Any, list[Any], dict[str, Any]]:
    job_function = registry.lookup(job.path, job.meta)
    args = job.args or []
    kwargs = job.kwargs or {}
    if round_trip_arguments:
        args, kwargs = round_trip(list(args)), round_trip(dict(kwargs))
    if job_function.takes_context:
        args = [JobContext(job), *args]
    return job_function, args, kwargs


def _raised(exc: BaseException, started: float) -> Execution:
    trace = None if isinstance(exc, Outcome) else format_traceback(exc)
    return Execution(exception=exc, traceback=trace, duration=time.perf_counter() - started)


def _not_awaitable(job: Job, value: Any) -> Any:
    # A sync function handing back a coroutine did none of its work: recording it
    # as completed (with the coroutine's repr as result) would lose the job.
    if value is not None and inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()
        raise TypeError(
            f"{job.path} returned {type(value).__name__} {value!r} instead of running it: declare "
            "the job function with async def so the worker awaits it."
        )
    return value


def run_job(
    job: Job,
    *,
    now: Callable[[], datetime] = timezone.now,
    round_trip_arguments: bool = True,
    before: Callable[[], None] | None = None,
    completion: AtomicCompletion | None = None,
) -> tuple[Execution, Transition]:
    """Run ``job``, decide its transition and send ``job_started``/``job_finished``.

    The row is not written: the caller records the transition (the dispatcher
    in batches, fenced on worker and attempt), except an atomic job's
    completion given ``completion`` (``atomic.settled(job)`` then says so).
    """
    _log_receiver_errors(job_started.send_robust(sender=type(job), job=job), job)
    if before is not None:
        before()
    with tracing.run_span(job) as span:
        execution, transition = _run(job, now, round_trip_arguments, completion)
        tracing.ran(span, execution, transition)
    responses = job_finished.send_robust(
        sender=type(job),
        job=job,
        outcome=transition.outcome,
        state=transition.state,
        duration=execution.duration,
        exception=execution.exception,
    )
    _log_receiver_errors(responses, job)
    return execution, transition


async def arun_job(
    job: Job,
    *,
    now: Callable[[], datetime] = timezone.now,
    round_trip_arguments: bool = True,
) -> tuple[Execution, Transition]:
    """``run_job`` on an event loop: signals through ``asend_robust``, the job through ``aexecute``."""
    _log_receiver_errors(await job_started.asend_robust(sender=type(job), job=job), job)
    with tracing.run_span(job) as span:
        if is_atomic(job):  # a sync job (atomic async ones are refused): one thread, one transaction
            execution, transition = await sync_to_async(_run)(job, now, round_trip_arguments, None)
        else:
            execution = await aexecute(job, round_trip_arguments=round_trip_arguments)
            if uses_progress(job):
                await sync_to_async(finish_progress, thread_sensitive=True)(job)
            transition = _decide(job, execution, now())
        tracing.ran(span, execution, transition)
    responses = await job_finished.asend_robust(
        sender=type(job),
        job=job,
        outcome=transition.outcome,
        state=transition.state,
        duration=execution.duration,
        exception=execution.exception,
    )
    _log_receiver_errors(responses, job)
    return execution, transition


def is_atomic(job: Job) -> bool:
    """Say whether ``job``'s function is registered with ``atomic=True``."""
    try:
        return bool(getattr(registry.lookup(job.path, job.meta), "atomic", False))
    except UnknownJobError:
        return False  # execute() fails it with the reason


def _run(
    job: Job,
    now: Callable[[], datetime],
    round_trip_arguments: bool,
    completion: AtomicCompletion | None,
) -> tuple[Execution, Transition]:
    if is_atomic(job):
        return atomic.run(
            job,
            lambda: execute(job, round_trip_arguments=round_trip_arguments),
            lambda execution: _decide(job, execution, now()),
            completion,
        )
    execution = execute(job, round_trip_arguments=round_trip_arguments)
    # The last finished steps and items are saved before the outcome is (djobs.durable).
    finish_progress(job)
    return execution, _decide(job, execution, now())


def _decide(job: Job, execution: Execution, now: datetime) -> Transition:
    # A job an operator cancelled while it ran ends cancelled whatever it did
    # (raised JobCancelled, caught it and returned): the row says so already.
    request = stop_request(job)
    if request is not None and request.cancelled:
        return Transition(JobState.CANCELLED, CANCELLED, finished_at=now, duration=execution.duration)
    return decide(job, execution, now)


def _log_receiver_errors(responses: list[tuple[Any, Any]], job: Job) -> None:
    # A receiver's bug (metrics, logging) must not fail the job: the job would be
    # retried and its side effects repeated. It is logged instead.
    for receiver, response in responses:
        if isinstance(response, Exception):
            logger.error(
                "djobs signal receiver %r failed for job %s: %s",
                receiver,
                job.id,
                response,
                exc_info=response,
                extra={"job_id": job.id, "job_path": job.path},
            )


__all__ = ["Execution", "aexecute", "arun_job", "execute", "is_atomic", "run_job"]
