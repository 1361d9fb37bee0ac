"""Durable steps' pure parts: the checkpoint policy, a QuerySet's cursor, the interruption decision."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import models
from django.db.models import F

from djobs.durable import Interrupted, StepError
from djobs.durable.cursors import ordering_key
from djobs.durable.policy import (
    DEFAULT_CHECKPOINT_SECONDS,
    CheckpointPolicy,
    checkpoint_policy,
)
from djobs.models import Job
from djobs.transitions import decide
from djobs.worker.executor import Execution
from tests.testapp.models import Marker, Row

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_the_default_policy_hands_the_cursor_over_every_five_seconds() -> None:
    assert (
        checkpoint_policy(None)
        == CheckpointPolicy(seconds=DEFAULT_CHECKPOINT_SECONDS)
        == CheckpointPolicy(seconds=5.0)
    )


def test_an_int_counts_items_and_a_timedelta_measures_time() -> None:
    assert checkpoint_policy(100) == CheckpointPolicy(items=100)
    assert checkpoint_policy(timedelta(seconds=30)) == CheckpointPolicy(seconds=30.0)


@pytest.mark.parametrize("value", [0, -1, 2.5, "10", True, timedelta(0)])
def test_a_checkpoint_every_that_is_not_items_or_time_is_refused_naming_it(value: object) -> None:
    with pytest.raises(StepError, match=re.escape(f"checkpoint_every={value!r}")):
        checkpoint_policy(value)


def test_the_cursor_of_a_queryset_is_its_one_unique_ordering_field() -> None:
    key = ordering_key(Row.objects.order_by("pk"), "rows")
    assert (key.name, key.attname, key.descending) == ("id", "id", False)
    assert ordering_key(Row.objects.order_by("-id"), "rows").descending


def test_a_descending_key_resumes_below_the_cursor() -> None:
    key = ordering_key(Row.objects.order_by("-pk"), "rows")
    assert "< 7" in str(key.after(Row.objects.order_by("-pk"), 7).query).replace('"', "")


@pytest.mark.parametrize(
    ("queryset", "says"),
    [
        (lambda: Row.objects.all(), "is ordered by no ordering"),
        (lambda: Row.objects.order_by("n"), "ordered by 'n', which is not unique"),
        (lambda: Row.objects.order_by("pk", "n"), "is ordered by 'pk', 'n'"),
        (lambda: Row.objects.order_by("pk")[:10], "the queryset is sliced"),
        (lambda: Row.objects.order_by("pk").values("n"), "values() and values_list() rows"),
        (lambda: Marker.objects.order_by(F("name").asc()), "is ordered by OrderBy("),
    ],
)
def test_a_queryset_without_one_unique_ordering_field_is_refused_saying_how_to_order_it(
    queryset: object, says: str
) -> None:
    with pytest.raises(StepError) as raised:
        ordering_key(queryset(), "rows")  # type: ignore[operator]
    assert says in str(raised.value)
    assert "order_by('pk')" in str(raised.value)


def interrupted(job: Job, count: int, limit: int = 10):  # type: ignore[no-untyped-def]
    return decide(job, Execution(exception=Interrupted("each 'rows' after item 3", count, limit)), NOW)


def test_an_interruption_makes_the_job_available_now_and_gives_the_attempt_back() -> None:
    t = interrupted(Job(attempt=3, max_attempts=3), 1)
    assert (t.state, t.outcome, t.scheduled_at, t.attempt_delta, t.error) == (
        "available",
        "interrupted",
        NOW,
        -1,
        None,
    )


def test_interruptions_past_the_limit_use_up_attempts_and_say_so() -> None:
    t = interrupted(Job(attempt=1, max_attempts=3), 11)
    assert (t.state, t.outcome, t.attempt_delta) == ("available", "interrupted", 0)
    assert t.error is not None and "more than MAX_INTERRUPTIONS (10)" in t.error["error"]
    last = interrupted(Job(attempt=3, max_attempts=3), 11)
    assert (last.state, last.outcome) == ("discarded", "exhausted")


class NullableKey(models.Model):  # noqa: DJ008
    code = models.IntegerField(null=True, unique=True)

    class Meta:
        app_label = "testapp"
        managed = False


class Parent(models.Model):  # noqa: DJ008
    class Meta:
        app_label = "testapp"
        managed = False


class InheritingChild(Parent):  # noqa: DJ008
    class Meta:
        app_label = "testapp"
        managed = False


def test_a_nullable_unique_key_is_refused_naming_the_field_and_the_fix() -> None:
    with pytest.raises(StepError) as raised:
        ordering_key(NullableKey.objects.order_by("code"), "rows")
    assert "is ordered by 'code', which may be NULL" in str(raised.value)
    assert "Make testapp.NullableKey.code NOT NULL" in str(raised.value)
    assert "order_by('pk')" in str(raised.value)


def test_a_reversed_queryset_is_descending_and_a_reversed_descending_one_ascending() -> None:
    assert ordering_key(Row.objects.order_by("pk").reverse(), "rows").descending
    assert not ordering_key(Row.objects.order_by("-pk").reverse(), "rows").descending


def test_a_multi_table_child_ordered_by_pk_iterates_by_its_parent_link() -> None:
    key = ordering_key(InheritingChild.objects.order_by("pk"), "rows")
    assert (key.name, key.attname, key.descending) == ("parent_ptr", "parent_ptr_id", False)
    assert "> 7" in str(key.after(InheritingChild.objects.order_by("pk"), 7).query).replace('"', "")


def test_a_job_of_a_stopping_worker_starts_its_progress_interrupted() -> None:
    from djobs.durable.progress import progress_of, worker_stopping

    worker_stopping("w-stopping")
    try:
        assert progress_of(Job(path="x", worker_id="w-stopping")).interrupt_requested
        assert not progress_of(Job(path="x", worker_id="w-running")).interrupt_requested
    finally:
        worker_stopping("w-stopping", stopping=False)
    assert not progress_of(Job(path="x", worker_id="w-stopping")).interrupt_requested
