"""Opening batches, adding jobs to them and sealing them.

::

    from djobs.batches import batch

    with batch(on_complete=notify_admin, description="weekly update") as b:
        for email in emails:
            send_update.enqueue(email)      # tagged with b.id in Job.meta

In async code (an async view, an async job) the same block is ``async with``::

    async with batch(on_complete=notify_admin) as b:
        for email in emails:
            await send_update.aenqueue(email)

The explicit form, for code that cannot wrap the enqueues in one block::

    b = open_batch(on_complete=notify_admin)
    b.enqueue(send_update, "a@example.com")
    b.add([send_update.new("b@example.com"), send_update.new("c@example.com")])
    b.seal()
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.db import connections
from django.db.models import Count

from ..conf import get_settings
from ..enqueue import PendingJob, insert_pending
from ..models import Batch, BatchState
from . import store
from .errors import BatchError
from .specs import to_specs
from .tagging import BATCH_KEY, adding_to

if TYPE_CHECKING:
    from ..decorators import Enqueuer
    from ..models import Job

logger = logging.getLogger("djobs")


class BatchHandle:
    """A batch to add jobs to: ``enqueue``, ``add``, ``adding()``, then ``seal()``."""

    def __init__(self, batch_id: uuid.UUID, *, counting: bool = False) -> None:
        self.id = batch_id
        self.key = str(batch_id)
        # The `with batch()` block counts its jobs in memory and writes the size
        # once, at its seal; any other handle grows the row at each insert.
        self._counting = counting
        self._added = 0

    def __repr__(self) -> str:
        return f"<BatchHandle {self.key}>"

    def count_added(self, n: int) -> bool:
        """Count ``n`` jobs inserted into this batch in memory, if this handle may; say if it did."""
        if not self._counting:
            return False
        self._added += n
        return True

    @contextmanager
    def adding(self) -> Iterator[BatchHandle]:
        """Tag every job enqueued in this block with the batch (bulk and django.tasks included)."""
        with adding_to(self):
            yield self

    def enqueue(self, job_function: Enqueuer[Any, Any], *args: Any, **kwargs: Any) -> Job:
        """Enqueue ``job_function(*args, **kwargs)`` into this batch."""
        with adding_to(self):
            return job_function.enqueue(*args, **kwargs)

    def add(self, pending: Iterable[PendingJob]) -> list[Job]:
        """Insert jobs built with ``fn.new(...)`` into this batch, in one statement per chunk."""
        rows = []
        for index, item in enumerate(pending):
            if not isinstance(item, PendingJob):
                raise TypeError(f"add() item {index} is {item!r}; build items with job_function.new(...).")
            rows.append(replace(item, meta={**item.meta, BATCH_KEY: self.key}))
        with adding_to(self):
            return insert_pending(rows)

    def seal(self) -> None:
        """Close the batch to new jobs from outside; its callbacks fire once its jobs are done.

        An empty batch, or one whose jobs all finished already, finishes now.
        """
        added, self._added = self._added, 0
        if not store.seal(self.id, added):
            self._added = added
            raise BatchError(f"Batch {self.key} is not open (already sealed?); seal a batch once.")
        self._counting = False

    @property
    def row(self) -> Batch:
        """Return the batch row, read now."""
        return Batch.objects.using(get_settings().DATABASE).get(pk=self.id)


def open_batch(
    *,
    on_complete: Any = None,
    on_success: Any = None,
    on_discard: Any = None,
    description: str = "",
    meta: Mapping[str, Any] | None = None,
) -> BatchHandle:
    """Insert an open batch and return its handle; ``seal()`` it once every job is in.

    Callbacks are ``@job`` functions (or ``fn.using(...)``, a dotted path, or
    ``callback(fn, *extra)``), enqueued as jobs of their own and called as
    ``fn(batch_id, counts, *extra_args, **extra_kwargs)``.
    """
    if not isinstance(description, str):
        raise TypeError(f"description={description!r} is not valid; use a string.")
    if meta is not None and not isinstance(meta, Mapping):
        raise TypeError(f"meta={meta!r} is not valid; use a dict.")
    specs = to_specs({"on_complete": on_complete, "on_success": on_success, "on_discard": on_discard})
    row = store.create(description=description, callbacks=specs, meta=dict(meta or {}))
    return BatchHandle(row.pk)


class batch:  # lower case: used as a function, ``with batch(...)``
    """Open a batch, tag every job enqueued in the block with it, and seal it when the block exits.

    If the block raises, the jobs already enqueued stay in the batch and it is
    sealed all the same (inside ``transaction.atomic()`` all of it rolls back).
    ``async with batch(...)`` does the same from async code: the batch row is
    written and sealed in Django's async ORM thread, in autocommit.
    """

    def __init__(
        self,
        *,
        on_complete: Any = None,
        on_success: Any = None,
        on_discard: Any = None,
        description: str = "",
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self._options: dict[str, Any] = {
            "on_complete": on_complete,
            "on_success": on_success,
            "on_discard": on_discard,
            "description": description,
            "meta": meta,
        }
        self._handle: BatchHandle | None = None
        self._adding: AbstractContextManager[None] | None = None

    def _opened(self, handle: BatchHandle) -> BatchHandle:
        handle._counting = True
        self._handle = handle
        self._adding = adding_to(handle)
        self._adding.__enter__()
        return handle

    def _closing(self) -> BatchHandle:
        assert self._handle is not None and self._adding is not None
        self._adding.__exit__(None, None, None)
        return self._handle

    def __enter__(self) -> BatchHandle:
        return self._opened(open_batch(**self._options))

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        handle = self._closing()
        if exc is None:
            handle.seal()
        elif not connections[get_settings().DATABASE].needs_rollback:
            _seal_after_error(handle)

    async def __aenter__(self) -> BatchHandle:
        handle = await sync_to_async(open_batch, thread_sensitive=True)(**self._options)
        # The tags live in context variables of this task; aenqueue's thread sees them.
        return self._opened(handle)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        handle = self._closing()
        if exc is None:
            await sync_to_async(handle.seal, thread_sensitive=True)()
        else:
            await sync_to_async(_seal_after_error, thread_sensitive=True)(handle)


def _seal_after_error(handle: BatchHandle) -> None:
    try:
        handle.seal()
    except Exception:
        logger.exception("djobs could not seal batch %s after an error", handle.key)


def get_batch(batch_id: uuid.UUID | str) -> BatchHandle:
    """Return a handle on an existing batch, to add jobs to it or seal it from another process."""
    parsed = store.parse_key(batch_id)
    if parsed is None:
        raise ValueError(f"{batch_id!r} is not a batch id; pass Batch.id or str(Batch.id).")
    state = (
        Batch.objects.using(get_settings().DATABASE).filter(pk=parsed).values_list("state", flat=True).first()
    )
    if state is None:
        raise BatchError(f"No batch {parsed}; it was never created, or its transaction rolled back.")
    return BatchHandle(parsed)


def progress(batch: Batch | uuid.UUID | str, *, exact: bool = False) -> dict[str, int]:
    """Return the batch's jobs per state.

    A finished batch answers from its stored counts. Otherwise the active
    states are counted through the batch index and the rest of the size is
    reported as ``"finished"``; ``exact=True`` counts every job (reads them all).
    """
    row = batch if isinstance(batch, Batch) else BatchHandle(store.parse_key(batch) or uuid.UUID(int=0)).row
    if row.state == BatchState.FINISHED and row.counts:
        return {str(state): int(n) for state, n in row.counts.items()}
    key = str(row.pk)
    if exact:
        return {state: n for state, n in store.count_by_state(key).items() if n}
    rows = store.active_jobs_of(key).order_by().values_list("state").annotate(n=Count("id"))
    counts: dict[str, int] = {state: n for state, n in rows}
    if row.size is not None and row.size > sum(counts.values()):
        counts["finished"] = row.size - sum(counts.values())
    return counts


__all__ = ["BatchHandle", "batch", "get_batch", "open_batch", "progress"]
