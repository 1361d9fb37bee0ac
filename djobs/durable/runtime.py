"""What ``ctx.step``, ``ctx.each``, ``ctx.aeach`` and ``ctx.checkpoint`` do (djobs.context calls these)."""

from __future__ import annotations

import copy
import inspect
import itertools
import json
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from . import plan
from .cursors import OrderingKey, ordering_key
from .errors import StepError
from .policy import CheckpointPolicy, checkpoint_policy
from .progress import SAVES, Iteration, Progress, progress_of

if TYPE_CHECKING:
    from ..models import Job

#: Rows per query when iterating a QuerySet (keyset pages: each starts after the last cursor).
PAGE_SIZE = 10_000
# Rows fetched at a time within a page.
CHUNK_SIZE = 2000
#: Rows per query in ctx.aeach.
ASYNC_PAGE_SIZE = 1000


# -- steps -------------------------------------------------------------------------------------


def step(job: Job, name: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    progress = progress_of(job)
    progress.use(name, "step")
    if name in progress.steps:
        return copy.deepcopy(progress.steps[name])
    if inspect.iscoroutinefunction(fn):
        raise StepError(f"ctx.step({name!r}, {fn.__qualname__}) is async: use await ctx.astep(...).")
    _start_step(progress, name)
    try:
        result = fn(*args, **kwargs)
    finally:
        progress.current_step = None
    if inspect.isawaitable(result):
        raise StepError(f"ctx.step({name!r}) got an awaitable from {fn!r}: use await ctx.astep(...).")
    stored = _storable(name, result)
    progress.record_step(name, stored)
    return _end_step(progress, name, stored)


async def astep(
    job: Job, name: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    from asgiref.sync import sync_to_async

    progress = await sync_to_async(progress_of, thread_sensitive=True)(job)
    progress.use(name, "step")
    if name in progress.steps:
        return copy.deepcopy(progress.steps[name])
    _start_step(progress, name)
    try:
        if inspect.iscoroutinefunction(fn):
            result = await fn(*args, **kwargs)
        else:
            result = await sync_to_async(fn, thread_sensitive=True)(*args, **kwargs)
    finally:
        progress.current_step = None
    stored = _storable(name, result)
    await sync_to_async(progress.record_step, thread_sensitive=True)(name, stored)
    return _end_step(progress, name, stored)


def _start_step(progress: Progress, name: str) -> None:
    _refuse_user_atomic(progress, f"ctx.step({name!r})", "the step's work inside it")
    progress.check(f"before step {name!r}")
    test_plan = plan.active()
    if test_plan is not None and test_plan.during_step == name:
        test_plan.fire(progress)
    progress.current_step = name


def _end_step(progress: Progress, name: str, stored: Any) -> Any:
    test_plan = plan.active()
    if test_plan is not None and test_plan.after_step == name:
        test_plan.fire(progress)
    progress.check(f"after step {name!r}")
    return copy.deepcopy(stored)


def _storable(name: str, result: Any) -> Any:
    try:
        return json.loads(json.dumps(result, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StepError(
            f"Step {name!r} returned {result!r:.200}, which JSON cannot store ({exc}); return plain "
            "data (numbers, strings, lists, dicts), e.g. an id or a path as a string."
        ) from None


def checkpoint(job: Job) -> None:
    progress = progress_of(job)
    progress.check(
        f"at a checkpoint in step {progress.current_step!r}" if progress.current_step else "at a checkpoint"
    )


# -- iterations --------------------------------------------------------------------------------


def each(job: Job, name: str, source: Any, checkpoint_every: Any, batch: int | None = None) -> Iterator[Any]:
    policy = checkpoint_policy(checkpoint_every)
    size = batch_size(name, batch)
    key = _source_key(name, source)
    progress = progress_of(job)
    _begin(progress, name)
    it = progress.iteration(name)
    if it.done:
        return iter(())
    if size:
        from .batches import each_batch

        return each_batch(progress, it, name, source, key, policy, size)
    close = None
    if key is not None:
        # The rows themselves are noted; their cursor is read at a hand-over only.
        it.to_cursor = key.cursor_of
        pages = _Pages(source, key, it)
        items: Iterator[Any] = itertools.chain.from_iterable(pages)
        close = pages.close
    else:
        items = _callable_pairs(name, source, it.cursor)
    loop = _run(progress, it, _planned(progress, name, items), key is None, policy, close)
    # The job's end closes the loop even if the job raised out of it (djobs.durable.progress.finish).
    it.stop = loop.close
    return loop


def batch_size(name: str, batch: Any) -> int:
    if batch is None:
        return 0
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise StepError(f"ctx.each({name!r}, batch={batch!r}): pass a number of items (an int, 1 or more).")
    return batch


def aeach(job: Job, name: str, source: Any, checkpoint_every: Any) -> AsyncIterator[Any]:
    policy = checkpoint_policy(checkpoint_every)
    key = _source_key(name, source)
    return _arun(job, name, source, key, policy)


def _begin(progress: Progress, name: str) -> None:
    progress.use(name, "each")
    if progress.atomic:
        raise StepError(
            f"ctx.each({name!r}) in atomic job {progress.job.path}: its work commits all at once with "
            "the job, so no progress can be saved before the end. Drop atomic=True (each item then "
            "commits on its own) or loop without ctx.each."
        )
    if name in progress.steps:
        raise StepError(f"ctx.each({name!r}): {name!r} is already the name of a step of this job.")
    _refuse_user_atomic(progress, f"ctx.each({name!r})", "the loop body inside it")


def _refuse_user_atomic(progress: Progress, what: str, fix: str) -> None:
    """Refuse a step or iteration run inside the job's own ``transaction.atomic()`` block.

    Its saved positions would outlive work the block then rolls back (items
    lost), and the heartbeat thread's progress write would wait on the block's
    uncommitted progress row (beats stop). An atomic job's transaction is
    djobs' own (its progress commits with it); a TestCase's wrapper is not
    the job's.
    """
    if progress.atomic or progress.ops is None:
        return
    from django.db import connections

    connection = connections[progress.job._state.db or "default"]
    if any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
        raise StepError(
            f"{what} in job {progress.job.path} runs inside a transaction.atomic() block: the "
            "progress it saves would outlive work the block rolls back, and the worker's heartbeat "
            f"would wait on the block. Put the atomic block inside (around {fix}), or use "
            "@job(atomic=True) for a job whose work commits all at once."
        )


def _source_key(name: str, source: Any) -> OrderingKey | None:
    if isinstance(source, QuerySet):
        return ordering_key(source, name)
    if callable(source):
        return None
    raise StepError(
        f"ctx.each({name!r}, {source!r:.80}): pass an ordered QuerySet, or a callable taking the "
        "saved cursor (None at first) and yielding (item, cursor) pairs."
    )


class _Pages:
    """A QuerySet's rows as one streamed keyset page after another, each after the last row noted.

    Chained (``itertools.chain``), the rows reach the loop without a Python
    frame of their own. No query holds a snapshot for the whole run, and rows
    are streamed, not listed: a page of live model instances costs the garbage
    collector. ``close()`` closes the page being read, so its server-side
    cursor (PostgreSQL) is closed in the job's thread, never by a garbage
    collection that happens during another query on the same connection
    (psycopg would wait for its own connection's lock forever).
    """

    def __init__(self, queryset: QuerySet[Any], key: OrderingKey, it: Iteration) -> None:
        self.queryset = queryset
        self.key = key
        self.it = it
        self.current: Any = None

    def __iter__(self) -> Iterator[Iterator[Any]]:
        key, it = self.key, self.it
        cursor = it.cursor
        while True:
            before = it.last
            self.current = key.after(self.queryset, cursor)[:PAGE_SIZE].iterator(chunk_size=CHUNK_SIZE)
            yield self.current
            # The loop noted every row of the page (it.last) before asking for more. The
            # loop keeps no per-page count (it costs per item), so the last page is the
            # first that brought no row: one more indexed query per iteration.
            if it.last is before:
                return
            cursor = key.cursor_of(it.last)

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


def _callable_pairs(name: str, source: Callable[[Any], Iterable[Any]], cursor: Any) -> Iterator[Any]:
    for pair in source(cursor):
        yield _pair(name, pair)


def _pair(name: str, pair: Any) -> tuple[Any, Any]:
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise StepError(
            f"ctx.each({name!r}): the source yielded {pair!r:.100}; yield (item, cursor) pairs, the "
            "cursor being what the source needs to start after that item."
        )
    cursor = pair[1]
    if type(cursor) not in _IMMUTABLE:
        # A cursor is a value: a source updating one dict in place would otherwise move the
        # noted position past an item that then fails (it is saved later, at a hand-over).
        return pair[0], copy.deepcopy(cursor)
    return pair


_IMMUTABLE = frozenset({int, str, float, bool, type(None)})


def _planned(progress: Progress, name: str, items: Iterator[Any]) -> Iterator[Any]:
    test_plan = plan.active()
    count = test_plan.items_for(name) if test_plan is not None else None
    if test_plan is None or count is None:
        return items
    return _fire_after(test_plan, progress, items, count)


def _fire_after(
    test_plan: plan.InterruptPlan, progress: Progress, items: Iterator[Any], count: int
) -> Iterator[Any]:
    for n, item in enumerate(items, 1):
        if n == count:
            test_plan.fire(progress)  # before the item: the check after it interrupts
        yield item


def _run(
    progress: Progress,
    it: Iteration,
    items: Iterator[Any],
    pairs: bool,
    policy: CheckpointPolicy,
    close: Callable[[], None] | None,
) -> Generator[Any, None, None]:
    # The hot loop: per item, one count, one attribute write and two flags. The count reaches
    # it.items only where it is read (a hand-over, a stop, the end: the finally clause, which
    # also runs when the job closes a loop it raised out of). Time-based checkpoints are
    # flagged by the heartbeat thread (SAVES.tick), so no clock is read here.
    every_items = policy.items or 0
    count = it.items
    next_items = count + every_items if every_items else -1
    if policy.seconds:
        SAVES.watch(progress, it, policy.seconds)
    try:
        progress.check(f"each {it.name!r} at item {count}")
        # Two copies of the loop, not a branch per item: the hot path stays inline.
        if pairs:
            for item, last in items:
                yield item
                # The item is finished: it is the one to resume after.
                count += 1
                it.last = last
                if progress.attention:
                    it.items = count
                    _attend(progress, it, "each")
                if count == next_items:
                    it.items = count
                    _hand_over(progress, it)
                    next_items = count + every_items
        else:
            for item in items:
                yield item
                count += 1
                it.last = item
                if progress.attention:
                    it.items = count
                    _attend(progress, it, "each")
                if count == next_items:
                    it.items = count
                    _hand_over(progress, it)
                    next_items = count + every_items
        it.items = count
        it.done = True
        _hand_over(progress, it)
    finally:
        it.items = count
        SAVES.unwatch(it)
        if close is not None:
            close()


def _attend(progress: Progress, it: Iteration, kind: str) -> None:
    """Stop if the worker is stopping, else hand the cursor over if its time has come."""
    progress.attention = False  # first: a flag set from now on raises it again
    progress.check(f"{kind} {it.name!r} after item {it.items}")
    if it.time_due:
        it.time_due = False
        _hand_over(progress, it)


def _hand_over(progress: Progress, it: Iteration) -> None:
    it.hand_over()
    SAVES.hand_over(progress)


async def _arun(
    job: Job, name: str, source: Any, key: OrderingKey | None, policy: CheckpointPolicy
) -> AsyncIterator[Any]:
    from asgiref.sync import sync_to_async

    progress = await sync_to_async(progress_of, thread_sensitive=True)(job)
    _begin(progress, name)
    it = progress.iteration(name)
    if it.done:
        return
    test_plan = plan.active()
    fire_at = test_plan.items_for(name) if test_plan is not None else None
    if key is not None:
        it.to_cursor = key.cursor_of
        items: AsyncIterator[Any] = _aqueryset_rows(source, key, it.cursor)
    else:
        items = _acallable_pairs(name, source, it.cursor)
    # The loop of _run, for async for: an async generator cannot share a generator's body,
    # and the per-item work stays inline for speed.
    every_items = policy.items or 0
    count = it.items
    next_items = count + every_items if every_items else -1
    seen = 0
    if policy.seconds:
        SAVES.watch(progress, it, policy.seconds)
    try:
        progress.check(f"aeach {name!r} at item {count}")
        async for entry in items:
            if key is None:
                item, last = entry
            else:
                item = last = entry
            seen += 1
            if seen == fire_at and test_plan is not None:
                test_plan.fire(progress)
            yield item
            count += 1
            it.last = last
            it.items = count
            if progress.attention:
                _attend(progress, it, "aeach")
            if count == next_items:
                _hand_over(progress, it)
                next_items = count + every_items
        it.done = True
        _hand_over(progress, it)
    finally:
        SAVES.unwatch(it)


async def _aqueryset_rows(queryset: QuerySet[Any], key: OrderingKey, cursor: Any) -> AsyncIterator[Any]:
    # Listed pages, smaller: the async ORM streams nothing, and no cursor is left to close.
    while True:
        rows = [row async for row in key.after(queryset, cursor)[:ASYNC_PAGE_SIZE]]
        for row in rows:
            yield row
        if len(rows) < ASYNC_PAGE_SIZE:
            return
        cursor = key.cursor_of(rows[-1])


async def _acallable_pairs(name: str, source: Callable[[Any], Any], cursor: Any) -> AsyncIterator[Any]:
    produced = source(cursor)
    if hasattr(produced, "__aiter__"):
        async for pair in produced:
            yield _pair(name, pair)
    else:
        for pair in produced:
            yield _pair(name, pair)


__all__ = ["PAGE_SIZE", "aeach", "astep", "checkpoint", "each", "step"]
