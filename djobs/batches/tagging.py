"""Which batch the jobs enqueued here belong to, and counting them as they are inserted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from ..enqueue import ambient_meta

if TYPE_CHECKING:
    from ..models import Job

#: The meta key tying a job to its batch; its value is ``str(batch.id)``.
BATCH_KEY = "batch_id"


class Counting(Protocol):
    """What the insert hook needs of a batch handle."""

    key: str

    def count_added(self, n: int) -> bool: ...


_adding: ContextVar[Counting | None] = ContextVar("djobs_batch_adding", default=None)


@contextmanager
def adding_to(handle: Counting | None) -> Iterator[None]:
    """Tag every job enqueued in this block with ``handle``'s batch (None: with no batch)."""
    meta = dict(ambient_meta.get() or {})
    if handle is None:
        meta.pop(BATCH_KEY, None)
    else:
        meta[BATCH_KEY] = handle.key
    meta_token = ambient_meta.set(meta or None)
    handle_token = _adding.set(handle)
    try:
        yield
    finally:
        _adding.reset(handle_token)
        ambient_meta.reset(meta_token)


def batch_counts_of(jobs: list[Job]) -> Counter[str]:
    """Return how many newly inserted ``jobs`` each batch got (duplicates are not new)."""
    counts: Counter[str] = Counter()
    for job in jobs:
        meta = job.meta
        if meta and not job.duplicate:
            key = meta.get(BATCH_KEY)
            if key is not None:
                counts[str(key)] += 1
    return counts


def count_inserted(jobs: list[Job]) -> None:
    """Add inserted jobs to their batch's size (an insert hook, djobs.hooks).

    Inside the ``with batch()`` block that opened the batch the count stays in
    memory until the seal; otherwise the batch row grows in the insert's own
    transaction, which refuses jobs for a batch that already finished.
    """
    counts = batch_counts_of(jobs)
    if not counts:
        return
    from .store import grow

    handle = _adding.get()
    for key, n in counts.items():
        if handle is not None and handle.key == key and handle.count_added(n):
            continue
        grow(key, n)


def tagged(rows: Sequence[Any]) -> bool:
    """Say whether any of ``rows`` is tagged with a batch (so its insert must grow the batch row)."""
    return any(BATCH_KEY in (row.meta or {}) for row in rows)


__all__ = ["BATCH_KEY", "adding_to", "batch_counts_of", "count_inserted", "tagged"]
