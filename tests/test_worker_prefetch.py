"""How many jobs a queue holds claimed: more than its threads only while jobs are short."""

from __future__ import annotations

from djobs.worker.producer import PREFETCH_BELOW, PREFETCH_FACTOR, claim_capacity, next_mean


def test_short_jobs_are_claimed_ahead_of_free_threads() -> None:
    assert claim_capacity(10, 0.001) == 10 * PREFETCH_FACTOR


def test_long_jobs_are_claimed_only_for_free_threads() -> None:
    assert claim_capacity(10, 2.0) == 10
    assert claim_capacity(10, PREFETCH_BELOW) == 10


def test_the_running_mean_follows_recent_jobs() -> None:
    mean = PREFETCH_BELOW  # where a producer starts: as if jobs were long
    for _ in range(30):
        mean = next_mean(mean, 0.001)
    assert mean < PREFETCH_BELOW / 5
    for _ in range(30):
        mean = next_mean(mean, 1.0)
    assert mean > PREFETCH_BELOW
