"""``ctx.each(name, source, batch=N)``: the items in lists, each list finished when the next is asked for."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterator
from typing import Any

from django.db.models import QuerySet

from . import runtime
from .cursors import OrderingKey
from .policy import CheckpointPolicy
from .progress import SAVES, Iteration, Progress


def each_batch(
    progress: Progress,
    it: Iteration,
    name: str,
    source: Any,
    key: OrderingKey | None,
    policy: CheckpointPolicy,
    size: int,
) -> Iterator[list[Any]]:
    close = None
    if key is not None:
        it.to_cursor = key.cursor_of
        rows = _CountedPages(source, key, it.cursor)
        entries: Iterator[Any] = iter(rows)
        close = rows.close
    else:
        entries = runtime._callable_pairs(name, source, it.cursor)
    loop = _run_batches(
        progress, it, runtime._planned(progress, name, entries), key is None, policy, close, size
    )
    it.stop = loop.close
    return loop


_NO_ROW: Any = None


class _CountedPages:
    """A QuerySet's rows in keyset pages, each after the page's own last row (for batches).

    Unlike _Pages it does not wait for the loop to note a page's rows: a batch
    asks for the next page before the loop has seen any row of the batch.
    """

    def __init__(self, queryset: QuerySet[Any], key: OrderingKey, cursor: Any) -> None:
        self.queryset = queryset
        self.key = key
        self.cursor = cursor
        self.current: Any = None

    def __iter__(self) -> Iterator[Any]:
        cursor = self.cursor
        while True:
            self.current = self.key.after(self.queryset, cursor)[: runtime.PAGE_SIZE].iterator(
                chunk_size=runtime.CHUNK_SIZE
            )
            count, last = 0, _NO_ROW
            for last in self.current:
                count += 1
                yield last
            if count < runtime.PAGE_SIZE:
                return
            cursor = self.key.cursor_of(last)

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


def _run_batches(
    progress: Progress,
    it: Iteration,
    entries: Iterator[Any],
    pairs: bool,
    policy: CheckpointPolicy,
    close: Callable[[], None] | None,
    size: int,
) -> Generator[list[Any], None, None]:
    # A batch is finished when the loop asks for the next one: its last item is the one to
    # resume after, so a batch that fails, is interrupted or crashes runs again whole.
    every_items = policy.items or 0
    count = it.items
    next_items = count + every_items if every_items else -1
    if policy.seconds:
        SAVES.watch(progress, it, policy.seconds)
    try:
        progress.check(f"each {it.name!r} at item {count}")
        while chunk := list(itertools.islice(entries, size)):
            if pairs:
                items = [item for item, _cursor in chunk]
                last = chunk[-1][1]
            else:
                items = chunk
                last = chunk[-1]
            yield items
            count += len(chunk)
            it.last = last
            it.items = count
            if progress.attention:
                runtime._attend(progress, it, "each")
            if every_items and count >= next_items:
                runtime._hand_over(progress, it)
                next_items = count + every_items
        it.done = True
        runtime._hand_over(progress, it)
    finally:
        SAVES.unwatch(it)
        if close is not None:
            close()


__all__ = ["each_batch"]
