"""How many jobs a queue holds claimed: more than its threads only while jobs are short."""

from __future__ import annotations

from djobs.worker.producer import (
    PREFETCH_BELOW,
    PREFETCH_FACTOR,
    PREFETCH_JOBS,
    claim_capacity,
    next_mean,
)


def test_short_jobs_are_claimed_ahead_of_free_threads() -> None:
    assert claim_capacity(10, 0.01) == 10 * PREFETCH_FACTOR
    assert claim_capacity(10, 0.04) == 10 * PREFETCH_FACTOR


def test_the_shorter_the_jobs_the_more_are_claimed_ahead_up_to_a_bound() -> None:
    # About as many as the threads finish in PREFETCH_WAIT (20 ms): 4 ms jobs, 6 rounds.
    assert claim_capacity(10, 0.004) == 60
    assert claim_capacity(10, 0.001) == PREFETCH_JOBS
    assert claim_capacity(10, 0.0) == PREFETCH_JOBS
    assert claim_capacity(2, 0.0001) == 20  # PREFETCH_MAX x concurrency
    # A wide queue keeps its PREFETCH_FACTOR however short its jobs.
    assert claim_capacity(100, 0.0001) == 100 * PREFETCH_FACTOR


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
