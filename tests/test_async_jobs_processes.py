"""Async jobs under a real runjobs process: concurrency without threads, timeouts, SIGTERM, a blocked loop."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest

from djobs.models import Job, WorkerProcess
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import async_jobs
from tests.testapp.models import Marker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def marked(name: str) -> bool:
    return Marker.objects.filter(name=name).exists()


def test_200_concurrent_one_second_async_jobs_finish_in_a_few_seconds_on_few_threads(
    runjobs: Callable[..., RunJobs],
) -> None:
    jobs = async_jobs.sleeps.enqueue_many([(1.0,)] * 200)
    ids = [job.id for job in jobs]
    worker = runjobs("--queue", "aio=200")
    started = time.monotonic()
    peak = 0
    while Job.objects.filter(pk__in=ids, state="completed").count() < 200:
        peak = max(peak, threads_of(worker.process.pid))
        assert time.monotonic() - started < 20, worker.output()
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    # One claim, one loop: the 200 sleeps overlap (serially they would take 200 s).
    assert elapsed < 10, f"took {elapsed:.1f}s"
    assert peak < 40, f"the worker held {peak} threads for 200 async jobs"
    assert set(Job.objects.filter(pk__in=ids).values_list("result", flat=True)) == {"slept"}


def test_a_timeout_cancels_the_task_and_records_job_timeout(runjobs: Callable[..., RunJobs]) -> None:
    job = async_jobs.sleeps_past_timeout.enqueue(30)
    worker = runjobs("--queue", "aio=2")
    wait_until(lambda: Job.objects.filter(pk=job.pk, state="discarded").exists(), what="the timeout")
    job.refresh_from_db()
    assert "JobTimeout" in job.errors[-1]["error"], worker.output()
    assert "timeout of 0.5s" in job.errors[-1]["error"]
    # The task itself was cancelled: its CancelledError handler ran.
    wait_until(lambda: marked("cancelled"), what="the task to see its cancellation")
    assert job.result is None


def test_sigterm_lets_a_running_async_job_finish_and_records_it(runjobs: Callable[..., RunJobs]) -> None:
    job = async_jobs.sleeps_and_marks.enqueue(1.0, "graceful")
    worker = runjobs("--queue", "aio=5")
    wait_until(lambda: marked("graceful:started"), what="the job to start")
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.output()
    job.refresh_from_db()
    assert (job.state, job.result) == ("completed", "graceful"), worker.output()
    assert marked("graceful:finished")
    assert not WorkerProcess.objects.exists()


def test_sigterm_cancels_and_releases_an_async_job_still_running_after_the_grace(
    runjobs: Callable[..., RunJobs],
) -> None:
    job = async_jobs.sleeps_and_marks.enqueue(30, "released")
    waiting = async_jobs.sleeps.using(schedule_in=0).enqueue_many([(30,)] * 3)
    worker = runjobs("--queue", "aio=1", DJOBS_SHUTDOWN_GRACE="0.5")
    wait_until(lambda: marked("released:started"), what="the job to start")
    time.sleep(0.3)  # its start is written about 100 ms after it starts
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.output()
    job.refresh_from_db()
    # It started, so the interrupted attempt counts; it goes back for another worker.
    assert (job.state, job.attempt, job.worker_id) == ("available", 1, None), worker.output()
    assert job.errors[-1]["error"].startswith("WorkerReleased")
    assert not marked("released:finished")
    # The jobs waiting for a slot never started: back to available, attempts untouched.
    for other in Job.objects.filter(pk__in=[j.pk for j in waiting]):
        assert (other.state, other.attempt) == ("available", 0)


def test_a_coroutine_blocking_the_loop_is_named_and_interrupted_at_its_timeout(
    runjobs: Callable[..., RunJobs],
) -> None:
    blocker = async_jobs.blocks_the_loop.enqueue(4)
    worker = runjobs("--queue", "aio=5")
    wait_until(lambda: "blocked its event loop" in worker.output(), what="the blocked loop to be named")
    assert "tests.testapp.async_jobs.blocks_the_loop" in worker.output()
    wait_until(lambda: Job.objects.filter(pk=blocker.pk, state="discarded").exists(), what="the timeout")
    blocker.refresh_from_db()
    assert "JobTimeout" in blocker.errors[-1]["error"]
    # The loop is free again: the next async job runs.
    after = async_jobs.add.enqueue(1, 2)
    wait_until(lambda: Job.objects.filter(pk=after.pk, state="completed").exists(), what="the next job")
