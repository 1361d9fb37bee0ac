"""Bulk enqueue of any iterable, streamed: validated and written a chunk at a time, in one transaction.

A call that fits in one chunk is validated whole before anything is written,
as a single enqueue is. A longer one (a generator of a million items) is
built and written chunk by chunk inside one transaction (a savepoint inside
the caller's): a bad item at position 700,000 raises naming its position
and rolls back every row the call wrote, and the caller's transaction goes
on. Only two chunks of rows are alive at a time; with ``return_jobs=False``
no model instance is built at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from . import tracing
from .conf import get_settings
from .enqueue import PendingJob, RowBuilder, insert_pending
from .hooks import hooks
from .states import JobState

if TYPE_CHECKING:
    from .decorators import EnqueueOptions, JobFunction
    from .models import Job

#: Rows built ahead of each write, in BULK_CHUNK_SIZE units (COPY pays off on large writes).
STREAM_CHUNKS = 10


def stream_size() -> int:
    """Return how many rows a streamed bulk enqueue builds and writes at a time."""
    return get_settings().BULK_CHUNK_SIZE * STREAM_CHUNKS


def call_chunks(
    job_function: JobFunction[Any, Any],
    options: EnqueueOptions,
    items: Iterable[Any],
    split: Callable[[Any], tuple[tuple[Any, ...], dict[str, Any]]],
) -> Iterator[list[PendingJob]]:
    """Yield the rows of ``items`` (one call each) a chunk at a time; a bad item raises naming its index."""
    try:
        builder = RowBuilder(job_function, options)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"enqueue_many: {exc}") from None
    size = stream_size()
    index = 0
    iterator = iter(items)
    meta, tags = builder.meta, builder.tags
    while True:
        batch = list(islice(iterator, size))
        if not batch:
            return
        # One clock reading per chunk: its jobs share inserted_at and due time.
        now = timezone.now()
        scheduled_at, state = builder.times(now)
        rows = []
        row = builder.row
        try:
            for item in batch:
                args, kwargs = split(item)
                rows.append(
                    row(args, kwargs, now=now, scheduled_at=scheduled_at, state=state, meta=meta, tags=tags)
                )
                index += 1
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"enqueue_many item {index}: {exc}") from None
        del batch
        yield rows


def pending_chunks(pending: Iterable[Any], name: str) -> Iterator[list[PendingJob]]:
    """Yield already built rows a chunk at a time, refusing an item that is not one."""
    size = stream_size()
    iterator = iter(pending)
    index = 0
    while True:
        rows = list(islice(iterator, size))
        if not rows:
            return
        for item in rows:
            if not isinstance(item, PendingJob):
                raise TypeError(f"{name} item {index} is {item!r}; build items with job_function.new(...).")
            index += 1
        yield rows


def insert_chunks(chunks: Iterator[list[PendingJob]], *, return_jobs: bool) -> list[Job] | int:
    """Insert the rows of ``chunks``: the jobs in order, or (``return_jobs=False``) how many are new."""
    first = next(chunks, None)
    if first is None:
        return [] if return_jobs else 0
    second = next(chunks, None)
    if second is None:  # one chunk: validated whole before anything is written
        return insert_pending(first, return_jobs=return_jobs)
    conf = get_settings()
    if conf.TESTING == "inline":
        rows = [row for chunk in chain([first, second], chunks) for row in chunk]
        return insert_pending(rows, return_jobs=return_jobs)
    from .db import get_ops

    ops = get_ops()
    jobs: list[Job] = []
    count = 0
    queues: set[str] = set()
    # A transaction of its own, or a savepoint in the caller's: an item that
    # fails validation after some chunks were written undoes exactly this call.
    with transaction.atomic(using=ops.alias), tracing.enqueue_span(first) as span:
        context = {key: first[0].meta[key] for key in tracing.CONTEXT_KEYS if key in first[0].meta}
        for chunk in chain([first, second], chunks):
            if context and chunk is not first:
                for row in chunk:
                    row.meta = {**row.meta, **context}
            queues.update(row.queue for row in chunk if row.state == JobState.AVAILABLE)
            if return_jobs or hooks.insert_applies(chunk):
                inserted = ops.job_insert_many(chunk, chunk_size=conf.BULK_CHUNK_SIZE)
                hooks.after_insert(inserted)
                count += sum(1 for job in inserted if not job.duplicate)
                if return_jobs:
                    jobs.extend(inserted)
                del inserted
            else:
                count += ops.job_insert_rows(chunk, chunk_size=conf.BULK_CHUNK_SIZE)
            del chunk
        if conf.NOTIFY and ops.supports_listen_notify and queues:
            ops.notify_inserted(sorted(queues))
        tracing.enqueued(span, jobs)
    return jobs if return_jobs else count


__all__ = ["call_chunks", "insert_chunks", "pending_chunks", "stream_size"]
