"""What ``ctx.step``, ``ctx.each``, ``ctx.aeach`` and ``ctx.checkpoint`` do (djobs.context calls these)."""

from __future__ import annotations

import copy
import inspect
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from . import plan
from .cursors import OrderingKey, ordering_key
from .errors import StepError
from .policy import checkpoint_policy
from .progress import SAVES, Iteration, Progress, progress_of

if TYPE_CHECKING:
    from ..models import Job

#: Rows per query when iterating a QuerySet (keyset pages: each starts after the last cursor).
PAGE_SIZE = 500


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


def each(job: Job, name: str, source: Any, checkpoint_every: Any) -> Iterator[Any]:
    policy = checkpoint_policy(checkpoint_every)
    key = _source_key(name, source)
    progress = progress_of(job)
    _begin(progress, name)
    it = progress.iteration(name)
    if it.done:
        return iter(())
    pairs = (
        _queryset_pairs(source, key, it.cursor)
        if key is not None
        else _callable_pairs(name, source, it.cursor)
    )
    pairs = _planned(progress, name, pairs)
    return _run(progress, it, pairs, policy.items or 0, policy.seconds or 0.0)


def aeach(job: Job, name: str, source: Any, checkpoint_every: Any) -> AsyncIterator[Any]:
    policy = checkpoint_policy(checkpoint_every)
    key = _source_key(name, source)
    return _arun(job, name, source, key, policy.items or 0, policy.seconds or 0.0)


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


def _source_key(name: str, source: Any) -> OrderingKey | None:
    if isinstance(source, QuerySet):
        return ordering_key(source, name)
    if callable(source):
        return None
    raise StepError(
        f"ctx.each({name!r}, {source!r:.80}): pass an ordered QuerySet, or a callable taking the "
        "saved cursor (None at first) and yielding (item, cursor) pairs."
    )


def _queryset_pairs(queryset: QuerySet[Any], key: OrderingKey, cursor: Any) -> Iterator[tuple[Any, Any]]:
    cursor_of = key.cursor_of
    while True:
        rows = list(key.after(queryset, cursor)[:PAGE_SIZE])
        for row in rows:
            cursor = cursor_of(row)
            yield row, cursor
        if len(rows) < PAGE_SIZE:
            return


def _callable_pairs(
    name: str, source: Callable[[Any], Iterable[Any]], cursor: Any
) -> Iterator[tuple[Any, Any]]:
    for pair in source(cursor):
        yield _pair(name, pair)


def _pair(name: str, pair: Any) -> tuple[Any, Any]:
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise StepError(
            f"ctx.each({name!r}): the source yielded {pair!r:.100}; yield (item, cursor) pairs, the "
            "cursor being what the source needs to start after that item."
        )
    return pair


def _planned(progress: Progress, name: str, pairs: Iterator[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
    test_plan = plan.active()
    count = test_plan.items_for(name) if test_plan is not None else None
    if test_plan is None or count is None:
        return pairs
    return _fire_after(test_plan, progress, pairs, count)


def _fire_after(
    test_plan: plan.InterruptPlan, progress: Progress, pairs: Iterator[tuple[Any, Any]], count: int
) -> Iterator[tuple[Any, Any]]:
    for n, pair in enumerate(pairs, 1):
        if n == count:
            test_plan.fire(progress)  # before the item: the check after it interrupts
        yield pair


def _run(
    progress: Progress,
    it: Iteration,
    pairs: Iterator[tuple[Any, Any]],
    every_items: int,
    every_seconds: float,
) -> Iterator[Any]:
    clock = time.monotonic
    items = it.items
    handed_items = items
    handed_at = clock()
    progress.check(f"each {it.name!r} at item {items}")
    for item, cursor in pairs:
        yield item
        # The item is finished: it is the one to resume after.
        items += 1
        it.cursor = cursor
        it.items = items
        if progress.interrupt_requested:
            progress.check(f"each {it.name!r} after item {items}")
        if (every_items and items - handed_items >= every_items) or (
            every_seconds and clock() - handed_at >= every_seconds
        ):
            it.hand_over()
            SAVES.hand_over(progress)
            handed_items = items
            handed_at = clock()
    it.done = True
    it.hand_over()
    SAVES.hand_over(progress)


async def _arun(
    job: Job, name: str, source: Any, key: OrderingKey | None, every_items: int, every_seconds: float
) -> AsyncIterator[Any]:
    from asgiref.sync import sync_to_async

    progress = await sync_to_async(progress_of, thread_sensitive=True)(job)
    _begin(progress, name)
    it = progress.iteration(name)
    if it.done:
        return
    test_plan = plan.active()
    fire_at = test_plan.items_for(name) if test_plan is not None else None
    pairs = (
        _aqueryset_pairs(source, key, it.cursor)
        if key is not None
        else _acallable_pairs(name, source, it.cursor)
    )
    clock = time.monotonic
    items = it.items
    handed_items = items
    handed_at = clock()
    seen = 0
    progress.check(f"aeach {name!r} at item {items}")
    async for item, cursor in pairs:
        seen += 1
        if fire_at is not None and seen == fire_at and test_plan is not None:
            test_plan.fire(progress)
        yield item
        items += 1
        it.cursor = cursor
        it.items = items
        if progress.interrupt_requested:
            progress.check(f"aeach {name!r} after item {items}")
        if (every_items and items - handed_items >= every_items) or (
            every_seconds and clock() - handed_at >= every_seconds
        ):
            it.hand_over()
            SAVES.hand_over(progress)
            handed_items = items
            handed_at = clock()
    it.done = True
    it.hand_over()
    SAVES.hand_over(progress)


async def _aqueryset_pairs(
    queryset: QuerySet[Any], key: OrderingKey, cursor: Any
) -> AsyncIterator[tuple[Any, Any]]:
    while True:
        rows = [row async for row in key.after(queryset, cursor)[:PAGE_SIZE]]
        for row in rows:
            cursor = key.cursor_of(row)
            yield row, cursor
        if len(rows) < PAGE_SIZE:
            return


async def _acallable_pairs(
    name: str, source: Callable[[Any], Any], cursor: Any
) -> AsyncIterator[tuple[Any, Any]]:
    produced = source(cursor)
    if hasattr(produced, "__aiter__"):
        async for pair in produced:
            yield _pair(name, pair)
    else:
        for pair in produced:
            yield _pair(name, pair)


__all__ = ["PAGE_SIZE", "aeach", "astep", "checkpoint", "each", "step"]
