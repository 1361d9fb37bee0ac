"""Pure logic of the core, tested without a database."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from djobs.backoff import default_backoff
from djobs.serialization import check_json, round_trip
from djobs.uniqueness import UniqueSpec, parse_unique, unique_key

NOW = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)


def test_backoff_follows_15_plus_two_to_the_attempt_within_ten_percent() -> None:
    rand = random.Random(1)
    for attempt, base in [(1, 17), (2, 19), (5, 47), (10, 1039)]:
        value = default_backoff(attempt, rand=rand)
        assert base * 0.9 <= value <= base * 1.1


def test_backoff_without_jitter_is_exact_and_capped_for_huge_attempts() -> None:
    assert default_backoff(3, jitter=0) == 23
    assert default_backoff(500, jitter=0) == 15 + 2**20


def test_unique_key_ignores_arguments_outside_keys() -> None:
    spec = UniqueSpec(keys=("user_id",))
    a = unique_key(spec, path="p", queue="q", arguments={"user_id": 1, "x": 1}, now=NOW)
    b = unique_key(spec, path="p", queue="q", arguments={"user_id": 1, "x": 2}, now=NOW)
    c = unique_key(spec, path="p", queue="q", arguments={"user_id": 2, "x": 1}, now=NOW)
    assert a == b != c


def test_unique_key_changes_with_path_queue_and_period_bucket() -> None:
    spec = UniqueSpec(period=60)
    base = unique_key(spec, path="p", queue="q", arguments={}, now=NOW)
    assert base != unique_key(spec, path="p2", queue="q", arguments={}, now=NOW)
    assert base != unique_key(spec, path="p", queue="q2", arguments={}, now=NOW)
    later = NOW.replace(minute=1)
    assert base != unique_key(spec, path="p", queue="q", arguments={}, now=later)
    same_minute = NOW.replace(second=59)
    assert base == unique_key(spec, path="p", queue="q", arguments={}, now=same_minute)


def test_unique_true_means_default_states_and_no_period() -> None:
    spec = parse_unique(True)
    assert spec == UniqueSpec()
    assert "completed" in spec.states and "discarded" not in spec.states


def test_round_trip_turns_tuples_into_lists() -> None:
    assert round_trip({"a": (1, (2,))}) == {"a": [1, [2]]}


@pytest.mark.parametrize("value", [1, "s", None, True, 1.5, [1, {"a": [None]}], {"k": (1,)}])
def test_json_values_pass_the_check(value: object) -> None:
    check_json(value, "args")
