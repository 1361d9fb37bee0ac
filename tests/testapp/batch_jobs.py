"""Jobs the batch tests put in batches, and the callbacks they fire."""

from __future__ import annotations

from typing import Any

from djobs import Cancel, Discard, job
from djobs.context import JobContext


@job
def work(n: int) -> int:
    return n


@job(max_attempts=2, backoff=lambda attempt: 0)
def fails(n: int) -> None:
    raise RuntimeError(f"job {n} failed")


@job
def discards(n: int) -> None:
    raise Discard(f"job {n} is not needed")


@job
def cancels(n: int) -> None:
    raise Cancel(f"job {n} was called off")


@job
def report(batch_id: str, counts: dict[str, int], label: str = "") -> dict[str, Any]:
    """A callback: it returns what it was given, kept as its job's result."""
    return {"batch_id": batch_id, "counts": counts, "label": label}


@job(max_attempts=3, backoff=lambda attempt: 0)
def flaky_report(batch_id: str, counts: dict[str, int]) -> str:
    """A callback failing its first attempt: it is retried like any job."""
    from .models import Marker

    Marker.objects.create(name=f"flaky {batch_id}")
    if Marker.objects.filter(name=f"flaky {batch_id}").count() < 2:
        raise RuntimeError("the callback fails once")
    return "reported"


@job(takes_context=True)
def backfill(context: JobContext, page: int, last_page: int) -> int:
    """Seed 000's recursive backfill inside a batch: each page adds the next to the batch."""
    if page < last_page:
        context.enqueue_in_batch(backfill, page + 1, last_page)
    return page
