"""``async def`` jobs the async tests run: every outcome, slow ones, blocking ones, batches."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from contextvars import ContextVar
from typing import Any

from djobs import Cancel, Discard, Snooze, job
from djobs.context import JobContext

from .models import JobRun, Marker


@job(queue="aio")
async def add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@job(queue="aio")
async def noop() -> None:
    return None


@job(queue="aio")
async def records_run(tag: str = "") -> int:
    """Write a JobRun row through the async ORM (its unique job id proves one run)."""
    run = await JobRun.objects.acreate(job_id=await _next_id(), worker=f"{os.getpid()}:{tag}")
    return run.pk


async def _next_id() -> int:
    last = await JobRun.objects.order_by("-job_id").afirst()
    return (last.job_id + 1) if last else 1


@job(queue="aio", takes_context=True)
async def runs_once(context: JobContext, tag: str = "") -> int:
    """Write a JobRun keyed by the job's id: a second run of the same job would fail."""
    await JobRun.objects.acreate(job_id=context.job.id, worker=tag)
    return context.attempt


@job(queue="aio")
async def sleeps(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


@job(queue="aio")
async def sleeps_and_marks(seconds: float, name: str) -> str:
    await Marker.objects.acreate(name=f"{name}:started")
    await asyncio.sleep(seconds)
    await Marker.objects.acreate(name=f"{name}:finished")
    return name


@job(queue="aio", timeout=0.5, max_attempts=1)
async def sleeps_past_timeout(seconds: float) -> str:
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        await Marker.objects.acreate(name="cancelled")
        raise
    return "late"


@job(queue="aio", timeout=1, max_attempts=1)
async def blocks_the_loop(seconds: float) -> str:
    time.sleep(seconds)  # the mistake under test
    return "blocked"


@job(queue="aio")
async def returns_snooze(seconds: float) -> Snooze:
    return Snooze(seconds)


@job(queue="aio")
async def raises_snooze(seconds: float) -> None:
    raise Snooze(seconds)


@job(queue="aio")
async def raises_cancel(reason: str) -> None:
    raise Cancel(reason)


@job(queue="aio")
async def returns_cancel(reason: str) -> Cancel:
    return Cancel(reason)


@job(queue="aio")
async def raises_discard(reason: str) -> None:
    raise Discard(reason)


@job(queue="aio")
async def returns_discard(reason: str) -> Discard:
    return Discard(reason)


@job(queue="aio", max_attempts=2, backoff=lambda attempt: 0)
async def fails(message: str) -> None:
    await asyncio.sleep(0)
    raise ValueError(message)


@job(queue="aio", max_attempts=3, backoff=lambda attempt: 0)
async def fails_then_works(job_key: str) -> int:
    """Fail on the first attempt (a Marker per attempt), succeed on the second."""
    tries = await Marker.objects.filter(name=job_key).acount()
    await Marker.objects.acreate(name=job_key)
    if tries == 0:
        raise RuntimeError("first attempt fails")
    return tries + 1


@job(queue="aio", takes_context=True)
async def context_info(context: JobContext) -> dict[str, Any]:
    return {"attempt": context.attempt, "max": context.max_attempts, "batch": context.batch_id}


@job(queue="aio", unique={"keys": ["key"]})
async def unique_work(key: str) -> str:
    return key


@job(queue="aio")
async def report(batch_id: str, counts: dict[str, int]) -> dict[str, Any]:
    """An async batch callback: writes a Marker naming the batch, returns the counts."""
    await Marker.objects.acreate(name=f"report:{batch_id}")
    return {"batch": batch_id, "counts": counts}


@job(queue="aio")
async def enqueues_another(n: int) -> int:
    """Enqueue ``add(n, n)`` from inside an async job with aenqueue."""
    job = await add.aenqueue(n, n)
    return int(job.id)


@job(queue="aio")
async def thread_count() -> int:
    return threading.active_count()


@job
def sync_add(a: int, b: int) -> int:
    return a + b


@job(queue="aio")
async def thread_name() -> str:
    return threading.current_thread().name


@job(queue="aio", takes_context=True)
async def grows_batch(context: JobContext, n: int) -> int:
    """Add ``grows_batch(n - 1)`` to this job's batch until n is 0."""
    if n:
        await context.aenqueue_in_batch(grows_batch, n - 1)
    return n


@job(queue="aio", takes_context=True)
async def tick(context: JobContext, seconds: float = 0.0) -> str:
    """A short async job: one "tick" Marker per start (as fault_jobs.tick)."""
    await Marker.objects.acreate(name="tick", job_id=context.job.id)
    if seconds:
        await asyncio.sleep(seconds)
    return "ticked"


_seen: ContextVar[str] = ContextVar("async_jobs_seen", default="unset")


@job(queue="aio")
async def sets_a_context_variable(value: str) -> str:
    """Return the variable as this job found it, then set it (a leak would show in the next job)."""
    before = _seen.get()
    _seen.set(value)
    return before
