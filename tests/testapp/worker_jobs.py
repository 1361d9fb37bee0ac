"""Jobs the dispatcher's tests run: every outcome, slow jobs, timeouts, exactly-once proofs."""

from __future__ import annotations

import time
from typing import Any

from djobs import Cancel, Discard, Snooze, job
from djobs.context import JobContext


@job
def noop() -> None:
    return None


@job(max_attempts=3, backoff=lambda attempt: 0)
def always_fails(message: str = "boom") -> None:
    raise RuntimeError(message)


@job(max_attempts=5)
def fails_with_default_backoff() -> None:
    raise ValueError("try again later")


@job
def snoozes(seconds: float) -> Snooze:
    return Snooze(seconds)


@job
def raises_snooze(seconds: float) -> None:
    raise Snooze(seconds)


@job
def cancels(reason: str) -> None:
    raise Cancel(reason)


@job
def discards(reason: str) -> Discard:
    return Discard(reason)


@job
def returns_a_set() -> set[int]:
    return {1, 2}


@job(takes_context=True)
def knows_its_attempt(context: JobContext, label: str) -> dict[str, Any]:
    return {"label": label, "attempt": context.attempt, "id": context.job.id}


@job(takes_context=True)
def record_run(context: JobContext) -> None:
    from .models import JobRun

    JobRun.objects.create(job_id=context.job.id, worker=context.job.worker_id or "")


@job(timeout=0.3, max_attempts=2, backoff=lambda attempt: 3600)
def loops_past_timeout(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)
    return "late"


@job(takes_context=True)
def slow(context: JobContext, seconds: float) -> str:
    from .models import Marker

    Marker.objects.create(name="started", job_id=context.job.id)
    time.sleep(seconds)
    Marker.objects.create(name="finished", job_id=context.job.id)
    return "done"


@job(takes_context=True, max_attempts=3)
def sleeps_on_first_attempt(context: JobContext, seconds: float) -> int:
    from .models import Marker

    Marker.objects.create(name=f"attempt {context.attempt}", job_id=context.job.id)
    if context.attempt == 1:
        time.sleep(seconds)
    return context.attempt


@job(timeout=0.3, max_attempts=2, backoff=lambda attempt: 3600)
def blocks_in_c_past_timeout(seconds: float) -> str:
    time.sleep(seconds)  # one C call: the timeout exception waits until it returns
    return "late"


@job
def start_time() -> float:
    """Return when the job started (wall clock), for the pickup-latency benchmark."""
    return time.time()


@job(takes_context=True, max_attempts=2, backoff=lambda attempt: 0.3)
def fails_once_briefly(context: JobContext) -> int:
    """Fail the first attempt; the retry falls due 0.3 s later."""
    if context.attempt == 1:
        raise RuntimeError("first attempt fails")
    return context.attempt
