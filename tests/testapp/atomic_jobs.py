"""Atomic jobs the tests run: each writes an Effect row, then may sleep or fail before its commit.

They use a queue of their own, "atomic": a worker serving it on SQLite with more
than one thread logs a warning that other tests' workers must not print.

A job's own database writes roll back with it, so progress is told outside
the database: a line "<attempt> <worker>" appended to the file ``signal``
once the effect is written.
"""

from __future__ import annotations

import time
from pathlib import Path

from djobs import job
from djobs.context import JobContext


def _effect(context: JobContext, signal: str) -> None:
    from .models import Effect

    Effect.objects.create(job_id=context.job.id, attempt=context.attempt, worker=context.job.worker_id or "")
    if signal:
        with Path(signal).open("a") as file:
            file.write(f"{context.attempt} {context.job.worker_id}\n")


@job(atomic=True, queue="atomic", takes_context=True, max_attempts=3)
def write_then_sleep(context: JobContext, seconds: float, signal: str = "", first_only: bool = True) -> str:
    """Write an Effect, then sleep ``seconds`` (only on attempt 1 with ``first_only``) before completing."""
    _effect(context, signal)
    if seconds and (context.attempt == 1 or not first_only):
        time.sleep(seconds)
    return f"done by attempt {context.attempt}"


@job(atomic=True, queue="atomic", takes_context=True, max_attempts=3)
def write_enqueue_then_fail(context: JobContext, signal: str = "") -> None:
    """Write an Effect and enqueue a child, then raise: neither may remain."""
    _effect(context, signal)
    noop.enqueue()
    raise RuntimeError(f"failed after writing, attempt {context.attempt}")


@job(atomic=True, queue="atomic", takes_context=True)
def write_and_enqueue(context: JobContext) -> str:
    """Write an Effect and enqueue a child: both commit with the completion."""
    _effect(context, "")
    noop.enqueue()
    return "written"


@job(atomic=True, queue="atomic")
def noop() -> None:
    """An atomic job that writes nothing (the benchmark's and the children's)."""


@job(queue="atomic")
def plain_effect(job_id: int) -> None:
    """A plain job writing an Effect: outside any job transaction, as before."""
    from .models import Effect

    Effect.objects.create(job_id=job_id, attempt=1)


@job(atomic=True, queue="atomic")
def batch_done(batch_id: str, counts: dict[str, int]) -> str:
    """A batch's on_complete callback, atomic too."""
    return f"{batch_id} {counts.get('completed', 0)}"


@job(atomic=True, queue="atomic", takes_context=True)
def write_then_snooze(context: JobContext) -> None:
    """Write an Effect, then snooze: the Effect rolls back with the attempt."""
    from djobs import Snooze

    _effect(context, "")
    raise Snooze(60)


@job(atomic=True, queue="atomic", takes_context=True, max_attempts=3)
def write_lock_then_sleep(context: JobContext, lock_id: int, seconds: float, signal: str = "") -> str:
    """Write an Effect, lock Effect ``lock_id`` FOR UPDATE, then sleep ``seconds`` on attempt 1."""
    from .models import Effect

    Effect.objects.select_for_update().get(pk=lock_id)
    _effect(context, signal)
    if context.attempt == 1:
        time.sleep(seconds)
    return f"done by attempt {context.attempt}"


def _fail_on_commit() -> None:
    raise RuntimeError("an on_commit callback failed")


@job(atomic=True, queue="atomic", takes_context=True)
def write_then_failing_on_commit(context: JobContext) -> str:
    """Write an Effect and register an on_commit callback that raises (after the commit)."""
    from django.db import transaction

    _effect(context, "")
    transaction.on_commit(_fail_on_commit)
    return "written"


@job(atomic=True, queue="atomic", takes_context=True, timeout=1, max_attempts=3)
def write_then_overrun(context: JobContext) -> str:
    """Write an Effect, then run past its 1 s timeout (in Python, so JobTimeout lands at once)."""
    _effect(context, "")
    end = time.monotonic() + 5
    while time.monotonic() < end:
        time.sleep(0.02)
    return "too late"


@job(atomic=True, queue="atomic", takes_context=True)
def cancelled_while_running(context: JobContext) -> str:
    """Have an operator cancel this job from another connection, then write an Effect and return."""
    import threading

    from django.db import connections

    from djobs import operations
    from djobs.models import Job

    def cancel() -> None:
        try:
            operations.cancel(Job.objects.filter(pk=context.job.id))
        finally:
            connections.close_all()

    thread = threading.Thread(target=cancel)
    thread.start()
    thread.join()
    _effect(context, "")
    return "written"


@job(atomic=True, queue="atomic", takes_context=True)
def write_then_lock(context: JobContext, lock_id: int) -> str:
    """Write an Effect, then lock Effect ``lock_id`` FOR UPDATE (another transaction may hold it)."""
    from .models import Effect

    _effect(context, "")
    Effect.objects.select_for_update().get(pk=lock_id)
    return "locked"
