"""Jobs with durable steps and iterations (tests/test_steps_*.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from djobs import job
from djobs.context import JobContext

from .models import Marker, Row, RowVisit


def _mark(ctx: JobContext, name: str) -> str:
    Marker.objects.create(name=name, job_id=ctx.job.pk)
    return f"{name} done"


def _fail_on_first_attempt(ctx: JobContext, name: str) -> str:
    _mark(ctx, name)
    if ctx.attempt == 1:
        raise RuntimeError(f"{name} fails on attempt 1")
    return f"{name} done"


@job(takes_context=True, backoff=lambda attempt: 0)
def three_steps(ctx: JobContext) -> list[str]:
    first = ctx.step("one", _mark, ctx, "one")
    second = ctx.step("two", _fail_on_first_attempt, ctx, "two")
    third = ctx.step("three", _mark, ctx, "three")
    return [first, second, third]


@job(takes_context=True, timeout=None)
def visit_rows(ctx: JobContext, pause: float = 0.0, every: int | None = None, seconds: float = 0) -> int:
    count = 0
    policy = timedelta(seconds=seconds) if seconds else every
    for row in ctx.each("rows", Row.objects.order_by("pk"), checkpoint_every=policy):
        RowVisit.objects.create(row=str(row.pk), job_id=ctx.job.pk, attempt=ctx.attempt)
        count += 1
        if pause:
            time.sleep(pause)
    return count


def _keys(count: int, cursor: str | None) -> Iterator[tuple[str, str]]:
    # A paged API: string page tokens, resumed after the one given.
    start = 0 if cursor is None else int(cursor.removeprefix("k")) + 1
    for i in range(start, count):
        yield f"item-{i}", f"k{i:04d}"


@job(takes_context=True, backoff=lambda attempt: 1)
def paged_keys(ctx: JobContext, count: int, fail_at: str | None = None) -> int:
    for item in ctx.each("keys", lambda cursor: _keys(count, cursor), checkpoint_every=1000):
        if item == fail_at and ctx.attempt == 1:
            raise RuntimeError(f"{item} fails on attempt 1")
        RowVisit.objects.create(row=item, job_id=ctx.job.pk, attempt=ctx.attempt)
    return count


@job(takes_context=True)
def step_then_rows(ctx: JobContext) -> int:
    total = ctx.step("count", lambda: Row.objects.count())
    for row in ctx.each("rows", Row.objects.order_by("-pk")):
        RowVisit.objects.create(row=str(row.pk), job_id=ctx.job.pk, attempt=ctx.attempt)
    return int(total)


@job(takes_context=True)
def long_step(ctx: JobContext) -> str:
    def work() -> str:
        for _ in range(3):
            Marker.objects.create(name="tick", job_id=ctx.job.pk)
            ctx.checkpoint()
        return "worked"

    first = ctx.step("work", work)
    ctx.step("after", _mark, ctx, "after")
    return str(first)


@job(takes_context=True)
def step_twice(ctx: JobContext) -> None:
    ctx.step("same", lambda: 1)
    ctx.step("same", lambda: 2)


@job(takes_context=True)
def step_not_json(ctx: JobContext) -> None:
    ctx.step("bad", lambda: object())


@job(takes_context=True, atomic=True)
def atomic_rows(ctx: JobContext) -> int:
    total = ctx.step("count", lambda: Row.objects.count())
    for _row in ctx.each("rows", Row.objects.order_by("pk")):
        pass
    return int(total)


@job(takes_context=True, atomic=True)
def atomic_steps(ctx: JobContext, fail: bool) -> int:
    total = ctx.step("count", lambda: Row.objects.count())
    if fail:
        raise RuntimeError("rolls the step back")
    return int(total)


async def _aget(key: str) -> str:
    await asyncio.sleep(0)
    return key


@job(takes_context=True, timeout=None)
async def avisit_rows(ctx: JobContext, pause: float = 0.0, every: int | None = None) -> int:
    from asgiref.sync import sync_to_async

    label = await ctx.astep("label", _aget, "rows")
    count = 0
    async for row in ctx.aeach(label, Row.objects.order_by("pk"), checkpoint_every=every):
        await sync_to_async(RowVisit.objects.create)(row=str(row.pk), job_id=ctx.job.pk, attempt=ctx.attempt)
        count += 1
        if pause:
            await asyncio.sleep(pause)
    return count


async def _apages(cursor: Any) -> Any:
    start = 0 if cursor is None else int(cursor) + 1
    for i in range(start, 5):
        yield f"a{i}", i


@job(takes_context=True)
async def apaged(ctx: JobContext) -> list[str]:
    return [item async for item in ctx.aeach("pages", _apages)]


@job(takes_context=True, timeout=None)
def loop_rows(ctx: JobContext, mode: str) -> list[float]:
    """Sum Row.n over every row; return the loop's wall and CPU seconds (bench/durable_steps.py)."""
    started, cpu = time.perf_counter(), time.thread_time()
    queryset = Row.objects.order_by("pk")
    source: Any
    if mode == "each":
        source = ctx.each("rows", queryset)
    elif mode == "each-1000":
        source = ctx.each("rows", queryset, checkpoint_every=1000)
    elif mode == "iterator":
        source = queryset.iterator(chunk_size=500)
    else:
        source = queryset
    total = 0
    for row in source:
        total += row.n
    return [time.perf_counter() - started, time.thread_time() - cpu]


@job(takes_context=True, max_attempts=1)
def bad_cursor(ctx: JobContext) -> None:
    for _item in ctx.each("things", lambda cursor: ((i, object()) for i in range(3)), checkpoint_every=2):
        pass


@job(takes_context=True, backoff=lambda attempt: 0)
def rows_fail_once(ctx: JobContext, fail_at: int) -> int:
    for row in ctx.each("rows", Row.objects.order_by("pk")):
        if row.n == fail_at and ctx.attempt == 1:
            raise RuntimeError(f"row {row.n} fails on attempt 1")
        RowVisit.objects.create(row=str(row.pk), job_id=ctx.job.pk, attempt=ctx.attempt)
    return ctx.attempt


@job(takes_context=True, timeout=None)
def visit_rows_reversed(ctx: JobContext) -> int:
    count = 0
    for row in ctx.each("rows", Row.objects.order_by("pk").reverse(), checkpoint_every=5):
        RowVisit.objects.create(row=str(row.pk), job_id=ctx.job.pk, attempt=ctx.attempt)
        count += 1
        if count > 100:
            raise RuntimeError("the loop re-reads its rows")
    return count


@job(takes_context=True, max_attempts=1)
def rows_in_user_atomic(ctx: JobContext, step: bool) -> None:
    from django.db import transaction

    with transaction.atomic():
        if step:
            ctx.step("one", _mark, ctx, "one")
        for row in ctx.each("rows", Row.objects.order_by("pk")):
            RowVisit.objects.create(row=str(row.pk), job_id=ctx.job.pk, attempt=ctx.attempt)


@job(takes_context=True)
def atomic_inside_the_loop(ctx: JobContext) -> int:
    from django.db import transaction

    count = 0
    for row in ctx.each("rows", Row.objects.order_by("pk")):
        with transaction.atomic():
            RowVisit.objects.create(row=str(row.pk), job_id=ctx.job.pk, attempt=ctx.attempt)
            count += 1
    return count


def _one_dict_cursor(count: int) -> Any:
    def source(cursor: dict[str, int] | None) -> Iterator[tuple[str, dict[str, int]]]:
        state = {"next": 0 if cursor is None else cursor["next"]}
        while state["next"] < count:
            i = state["next"]
            state["next"] += 1
            yield f"item-{i}", state  # the same dict, updated in place

    return source


@job(takes_context=True, backoff=lambda attempt: 0)
def mutable_cursor(ctx: JobContext, fail_at: str) -> int:
    for item in ctx.each("items", _one_dict_cursor(10)):
        if item == fail_at and ctx.attempt == 1:
            raise RuntimeError(f"{item} fails on attempt 1")
        RowVisit.objects.create(row=item, job_id=ctx.job.pk, attempt=ctx.attempt)
    return ctx.attempt


@job(takes_context=True, backoff=lambda attempt: 0)
def batched_rows(ctx: JobContext, size: int, fail_at: int | None = None) -> list[int]:
    sizes = []
    for batch in ctx.each("rows", Row.objects.order_by("pk"), batch=size):
        if ctx.attempt == 1 and any(row.n == fail_at for row in batch):
            raise RuntimeError(f"the bulk write of the batch holding row {fail_at} fails")
        RowVisit.objects.bulk_create(
            [RowVisit(row=str(row.pk), job_id=ctx.job.pk, attempt=ctx.attempt) for row in batch]
        )
        sizes.append(len(batch))
    return sizes


@job(takes_context=True, backoff=lambda attempt: 0)
def batched_keys(ctx: JobContext, size: int, fail_at: str) -> int:
    for batch in ctx.each("keys", lambda cursor: _keys(25, cursor), batch=size):
        if ctx.attempt == 1 and fail_at in batch:
            raise RuntimeError(f"the batch holding {fail_at} fails")
        RowVisit.objects.bulk_create(
            [RowVisit(row=key, job_id=ctx.job.pk, attempt=ctx.attempt) for key in batch]
        )
    return ctx.attempt
