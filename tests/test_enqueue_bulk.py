"""Bulk enqueue at scale: streamed iterables, return_jobs=False, and the guarantees kept while streaming.

``BULK_CHUNK_SIZE`` is set small so that a few thousand items span several
streamed chunks (a chunk is ``BULK_CHUNK_SIZE * djobs.bulk.STREAM_CHUNKS`` rows).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.db.models.signals import post_init

import djobs
from djobs import Call, batch
from djobs.bulk import stream_size
from djobs.enqueue import PendingJob, fast_arguments
from djobs.exceptions import NotJSONError
from djobs.models import Batch, Job
from djobs.serialization import check_arguments
from tests.testapp.jobs import add, echo, unique_forever

pytestmark = pytest.mark.django_db

SMALL = {"BULK_CHUNK_SIZE": 50}  # streamed chunks of 500 rows


class Boom(Exception):
    pass


def _fields(queryset: Any) -> list[tuple[Any, ...]]:
    return list(
        queryset.order_by("id").values_list(
            "path",
            "queue",
            "state",
            "args",
            "kwargs",
            "meta",
            "tags",
            "priority",
            "max_attempts",
            "unique_key",
        )
    )


def test_a_bad_item_in_a_list_names_its_position_and_nothing_is_written() -> None:
    items: list[Any] = [(i, i) for i in range(30)]
    items[17] = (1, {1, 2})
    with pytest.raises(NotJSONError, match=r"enqueue_many item 17: args\[1\] is \{1, 2\}"):
        add.enqueue_many(items)
    assert Job.objects.count() == 0


def test_a_bad_item_deep_in_a_streamed_generator_rolls_back_every_chunk_written(settings: Any) -> None:
    settings.DJOBS = SMALL
    bad_at = 3 * stream_size() + 7

    def items() -> Iterator[Any]:
        for i in range(5 * stream_size()):
            yield (i,) if i == bad_at else (i, i)

    with pytest.raises(TypeError, match=f"enqueue_many item {bad_at}: "):
        add.enqueue_many(items(), return_jobs=False)
    assert Job.objects.count() == 0


def test_a_bad_item_streamed_inside_the_callers_transaction_undoes_only_this_call(settings: Any) -> None:
    settings.DJOBS = SMALL
    with transaction.atomic():
        kept = add.enqueue(1, 1)
        with pytest.raises(TypeError, match="enqueue_many item 1200: "):
            add.enqueue_many(((i, i) if i != 1200 else (i,) for i in range(2000)), return_jobs=False)
        after = add.enqueue(2, 2)  # the caller's transaction goes on
    assert sorted(Job.objects.values_list("pk", flat=True)) == [kept.pk, after.pk]


def test_a_generator_of_100k_items_streams_with_bounded_memory(settings: Any) -> None:
    settings.DJOBS = {"BULK_CHUNK_SIZE": 500}  # streamed chunks of 5,000 rows
    n = 100_000
    alive: list[tuple[int, int]] = []

    def count_alive() -> tuple[int, int]:
        rows = jobs = 0
        for obj in gc.get_objects():
            kind = type(obj)
            if kind is PendingJob:
                rows += 1
            elif kind is Job:
                jobs += 1
        return rows, jobs

    def items() -> Iterator[tuple[int]]:
        for i in range(n):
            if i % 20_000 == 19_999:
                alive.append(count_alive())
            yield (i,)

    gc.collect()
    # Jobs other tests left alive (a test client's context, a cached instance) are not this call's.
    _, jobs_before = count_alive()
    inserted = echo.enqueue_many(items(), return_jobs=False)

    assert inserted == n
    assert Job.objects.count() == n
    assert len(alive) == 5
    # At most the chunk being written, the one being built and the first (held by the span).
    assert max(rows for rows, _ in alive) <= 3 * stream_size()
    assert max(jobs for _, jobs in alive) <= jobs_before


def test_return_jobs_false_returns_the_count_and_writes_the_same_rows(settings: Any) -> None:
    settings.DJOBS = SMALL
    calls = [
        (1, 2),
        ("plain", "ascii"),
        ("é", 1.5),
        ([1, [2]], {"k": (3,)}),
        Call(None, flag=True),
        {"text": "tab\tand\\backslash"},
    ]
    items = [calls[i % len(calls)] for i in range(1234)]

    returned = echo.using(queue="bulk", priority=4, tags=["t"], meta={"m": 1}).enqueue_many(items)
    as_jobs = _fields(Job.objects.filter(pk__in=[j.pk for j in returned]))
    Job.objects.all().delete()
    count = echo.using(queue="bulk", priority=4, tags=["t"], meta={"m": 1}).enqueue_many(
        items, return_jobs=False
    )

    assert count == len(items)
    assert _fields(Job.objects.all()) == as_jobs
    assert [job.args for job in returned[:6]] == [
        [1, 2],
        ["plain", "ascii"],
        ["é", 1.5],
        [[1, [2]], {"k": [3]}],
        [None],
        [],
    ]


def test_the_jobs_returned_are_the_rows_written() -> None:
    jobs = echo.enqueue_many([(i, str(i)) for i in range(120)])  # COPY on PostgreSQL
    stored = {job.pk: job for job in Job.objects.all()}
    for job in jobs:
        row = stored[job.pk]
        assert (job.args, job.kwargs, job.meta, job.tags, job.state, job.queue, job.attempt, job.errors) == (
            row.args, row.kwargs, row.meta, row.tags, row.state, row.queue, row.attempt, row.errors
        )  # fmt: skip
        assert job.scheduled_at == row.scheduled_at
    jobs[0].meta["own"] = True
    assert jobs[1].meta == {}  # each job has its own meta, though the rows shared one


def test_unique_duplicates_inside_one_call_come_back_as_duplicates() -> None:
    jobs = unique_forever.enqueue_many([("a",), ("b",), ("a",)])
    assert [job.duplicate for job in jobs] == [False, False, True]
    assert jobs[2].pk == jobs[0].pk
    assert Job.objects.count() == 2


def test_unique_duplicates_across_streamed_chunks_are_found_and_not_counted(settings: Any) -> None:
    settings.DJOBS = SMALL
    keys = [f"k{i}" for i in range(stream_size() + 10)] + ["k3", f"k{stream_size() + 5}"]

    count = unique_forever.enqueue_many(((key,) for key in keys), return_jobs=False)

    assert count == stream_size() + 10
    assert Job.objects.count() == stream_size() + 10
    jobs = unique_forever.enqueue_many([("k3",), ("new",)])
    assert [job.duplicate for job in jobs] == [True, False]


def test_a_bulk_enqueue_inside_atomic_rolls_back_with_the_caller(settings: Any) -> None:
    settings.DJOBS = SMALL
    with pytest.raises(Boom), transaction.atomic():
        add.enqueue_many((i, i) for i in range(3 * stream_size()))
        add.enqueue_many([(1, 1)], return_jobs=False)
        assert Job.objects.count() == 3 * stream_size() + 1
        raise Boom
    assert Job.objects.count() == 0


def test_a_streamed_bulk_in_a_batch_is_tagged_and_counted(settings: Any) -> None:
    settings.DJOBS = SMALL
    n = 2 * stream_size() + 3
    with batch(description="bulk") as handle:
        count = add.enqueue_many(((i, i) for i in range(n)), return_jobs=False)
    assert count == n
    assert Job.objects.filter(meta__batch_id=str(handle.id)).count() == n
    assert Batch.objects.get(pk=handle.id).size == n


def test_module_level_enqueue_many_streams_built_rows_and_refuses_others(settings: Any) -> None:
    settings.DJOBS = SMALL
    n = stream_size() + 1
    assert djobs.enqueue_many((add.new(i, i) for i in range(n)), return_jobs=False) == n
    assert Job.objects.count() == n
    with pytest.raises(TypeError, match=f"enqueue_many item {n} is 'oops'"):
        djobs.enqueue_many(chain_rows(n, "oops"))
    assert Job.objects.count() == n


def chain_rows(n: int, last: Any) -> Iterator[Any]:
    for i in range(n):
        yield add.new(i, i)
    yield last


def test_an_empty_iterable_writes_nothing() -> None:
    assert add.enqueue_many(iter(())) == []
    assert add.enqueue_many([], return_jobs=False) == 0
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {}),
        ((1, True, None), {}),
        (("ascii", -5), {"flag": False, "n": 10**30}),
        ((), {"s": 'quote"d\\'}),
    ],
)
def test_the_fast_path_gives_what_check_arguments_gives(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    fast = fast_arguments(args, kwargs, max_bytes=1 << 20)
    assert fast is not None
    checked = check_arguments(args, kwargs, max_bytes=1 << 20)
    assert (json.loads(fast[0]), json.loads(fast[1])) == checked


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("é",), {}),
        ((1.5,), {}),
        (([1],), {}),
        (("a\x00b",), {}),
        ((), {"not an identifier": 1}),
        (("x" * 50,), {}),
    ],
)
def test_the_fast_path_leaves_anything_else_to_check_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    assert fast_arguments(args, kwargs, max_bytes=40) is None


def test_the_jobs_returned_go_through_init_while_its_signals_have_listeners() -> None:
    seen: list[Job] = []

    def receiver(sender: Any, instance: Job, **kwargs: Any) -> None:
        seen.append(instance)

    post_init.connect(receiver, sender=Job)
    try:
        jobs = add.enqueue_many([(1, 2), (3, 4)])
    finally:
        post_init.disconnect(receiver, sender=Job)
    assert [id(job) for job in seen] == [id(job) for job in jobs]
    assert [job.args for job in seen] == [[1, 2], [3, 4]]
    assert not seen[0]._state.adding
