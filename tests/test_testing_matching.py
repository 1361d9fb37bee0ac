"""The matching behind assert_enqueued, as pure functions on unsaved rows (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from djobs.models import Job
from djobs.testing.matching import (
    Criteria,
    call_repr,
    differences,
    job_path,
    json_equal,
    named_arguments,
    rank,
)
from tests.testapp.jobs import add, echo
from tests.testapp.testing_jobs import greet, peek

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def row(pk: int = 1, **fields: Any) -> Job:
    values: dict[str, Any] = {
        "path": add.path,
        "args": [1, 2],
        "kwargs": {},
        "queue": "default",
        "state": "available",
        "scheduled_at": NOW,
    }
    values.update(fields)
    return Job(pk=pk, **values)


def criteria(**given: Any) -> Criteria:
    return Criteria.build(now=NOW, **given)


def test_json_equal_tells_booleans_from_integers_at_any_depth() -> None:
    assert json_equal([1, {"a": 1.0}], [1, {"a": 1}])
    assert not json_equal(True, 1)
    assert not json_equal([{"a": True}], [{"a": 1}])
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})


def test_named_arguments_name_positional_arguments_and_fill_defaults() -> None:
    job = row(path=greet.path, args=["ada"], kwargs={"punctuation": "?"})
    assert named_arguments(job) == {"name": "ada", "greeting": "hello", "punctuation": "?"}


def test_named_arguments_skip_the_context_and_flatten_var_keywords() -> None:
    assert named_arguments(row(path=peek.path, args=["x"])) == {"label": "x"}
    assert named_arguments(row(path=echo.path, args=[1], kwargs={"k": 2})) == {"k": 2}


def test_named_arguments_of_an_unregistered_path_are_its_stored_kwargs() -> None:
    assert named_arguments(row(path="gone.jobs.fn", args=[1], kwargs={"k": 2})) == {"k": 2}


def test_differences_list_every_mismatch_and_none_for_a_match() -> None:
    job = row(args=[1, 2], meta={"tenant": "acme"})
    assert differences(job, criteria(job=add, args=[1], meta={"tenant": "acme"})) == []
    assert differences(job, criteria(job=greet, queue="emails", meta={"tenant": "x"})) == [
        f"job is {add.path!r}, expected {greet.path!r}",
        "queue is 'default', expected 'emails'",
        "meta['tenant'] is 'acme', expected 'x'",
    ]


def test_scheduled_in_is_measured_from_now_with_a_tolerance() -> None:
    job = row(scheduled_at=NOW + timedelta(seconds=60))
    assert differences(job, criteria(scheduled_in=60.5)) == []
    [why] = differences(job, criteria(scheduled_in=30))
    assert why.endswith("+30.0s from the expected 2026-01-05T09:00:30+00:00 (±1s)")


def test_rank_puts_the_same_job_first_then_the_fewest_differences_then_the_newest() -> None:
    same_far = row(pk=1, queue="other", args=[9])
    same_near = row(pk=2, args=[9])
    other = row(pk=3, path=greet.path, args=[1])
    newer_same_near = row(pk=4, args=[8])
    ranked = [
        job.pk for job, _ in rank([same_far, same_near, other, newer_same_near], criteria(job=add, args=[1]))
    ]
    assert ranked == [4, 2, 1, 3]


def test_call_repr_reads_like_the_call() -> None:
    assert call_repr(row(args=[1, "a"], kwargs={"k": None})) == f"{add.path}(1, 'a', k=None)"


@pytest.mark.parametrize(
    ("reference", "path"),
    [
        (add, add.path),
        (add.using(queue="x"), add.path),
        ("app.jobs.fn", "app.jobs.fn"),
        (json_equal, "djobs.testing.matching.json_equal"),
    ],
)
def test_job_path_accepts_functions_bound_options_paths_and_plain_functions(
    reference: Any, path: str
) -> None:
    assert job_path(reference) == path
