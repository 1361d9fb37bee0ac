"""Jobs a killed worker had claimed but not started lose no attempt: they run later, never discarded."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from djobs import enqueue_many
from djobs.models import Job
from tests.fault_support import in_state, starts, ticks
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import fault_jobs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_jobs_claimed_ahead_by_a_killed_worker_run_later_on_their_only_attempt(
    runjobs: Callable[..., RunJobs],
) -> None:
    warm_up = fault_jobs.tick.enqueue_many([()] * 5)
    first = runjobs("--queue", "default=1", DJOBS_HEARTBEAT_INTERVAL="0.2")
    # Short jobs turn prefetch on: the next claim takes up to 3 jobs for 1 thread.
    wait_until(lambda: in_state(warm_up, "completed"), what="the warm-up jobs")
    once = {"max_attempts": 1}
    long, *behind = enqueue_many(
        [fault_jobs.paced.using(**once).new(30), *(fault_jobs.tick.using(**once).new() for _ in range(2))]
    )
    # A start is recorded (attempted_at) by the worker shortly after the job begins.
    wait_until(
        lambda: Job.objects.filter(pk=long.pk, attempted_at__isnull=False).exists(),
        what="the long job's start to be recorded",
    )
    assert starts(long)
    wait_until(lambda: in_state(behind, "executing"), timeout=5, what="the jobs behind to be claimed ahead")
    # Claimed but not started: no attempt is under way yet.
    unstarted = Job.objects.filter(pk__in=[j.pk for j in behind])
    assert list(unstarted.values_list("attempted_at", flat=True)) == [None, None]
    first.signal(signal.SIGKILL)
    first.wait(5)
    second = runjobs("--queue", "default=1", DJOBS_RESCUE_AFTER="1", DJOBS_HEARTBEAT_INTERVAL="0.2")
    everything = [long, *behind]
    wait_until(lambda: in_state(everything, "completed", "discarded"), timeout=15, what="the rescue")
    for job in behind:
        job.refresh_from_db()
        assert (job.state, job.attempt, ticks(job)) == ("completed", 1, 1), second.output()
        assert any("claimed but never started" in entry["error"] for entry in job.errors), job.errors
    # The long job did start: its only attempt was lost with the worker.
    long.refresh_from_db()
    assert (long.state, len(starts(long))) == ("discarded", 1)


def test_job_that_kills_its_worker_as_it_starts_still_uses_up_its_attempts(
    runjobs: Callable[..., RunJobs],
) -> None:
    job = fault_jobs.kills_its_worker.enqueue()  # max_attempts=2
    killed = 0
    # Its start may not be written before it kills (starts are written ~100 ms late), so
    # each attempt may come back once as "never started"; the second time it counts.
    for _ in range(6):
        worker = runjobs("--queue", "default=1", DJOBS_RESCUE_AFTER="1", DJOBS_HEARTBEAT_INTERVAL="0.2")
        died = worker.process.poll
        wait_until(
            lambda: died() is not None or in_state([job], "discarded"),  # noqa: B023  (used at once)
            timeout=10,
            what="the worker to die or the job to be discarded",
        )
        if worker.process.poll() is None:
            break  # this one rescued the job as out of attempts, and lives
        killed += 1
    job.refresh_from_db()
    assert job.state == "discarded", job.errors
    assert 2 <= killed <= 4, job.errors
