"""Cancelling a running job stops it: its worker interrupts it within about a second, never retries it."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable

import pytest
from django.core.management import call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext

from djobs import operations
from djobs.context import JobContext, StopRequest, request_stop
from djobs.exceptions import JobCancelled, JobInterrupted, JobTimeout
from djobs.models import Job
from djobs.states import JobState
from djobs.worker.cancels import stop_requests
from djobs.worker.runner import Runner
from djobs.worker.timeouts import RunningJob
from tests.factories import JobFactory
from tests.fault_support import in_state
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import cancel_jobs, fault_jobs
from tests.testapp.models import Marker


def markers(job: Job) -> list[str]:
    return list(Marker.objects.filter(job_id=job.pk).order_by("id").values_list("name", flat=True))


def has_marker(job: Job, name: str) -> bool:
    return Marker.objects.filter(job_id=job.pk, name=name).exists()


def cancel_from_cli(job: Job) -> str:
    out = io.StringIO()
    call_command("jobs", "cancel", str(job.pk), stdout=out)
    return out.getvalue()


def start_and_cancel(job: Job, runjobs: Callable[..., RunJobs]) -> tuple[RunJobs, float]:
    """Start a worker, wait for ``job`` to start, cancel it from the CLI; return the worker and when."""
    worker = runjobs("--queue", "default=1")
    wait_until(lambda: has_marker(job, "started"), timeout=15, what="the job to start")
    assert cancel_from_cli(job) == "Cancelled 1 job.\n"
    return worker, time.monotonic()


# -- pure parts -----------------------------------------------------------------------


def test_job_cancelled_is_not_an_exception_that_except_exception_catches() -> None:
    assert issubclass(JobCancelled, JobInterrupted)
    assert not issubclass(JobCancelled, Exception)
    assert not issubclass(JobCancelled, JobTimeout)


def test_context_flag_is_false_until_a_stop_is_requested_then_check_raises() -> None:
    context = JobContext(Job(id=7, path="x.y"))
    assert context.cancelled is False
    context.check_cancelled()  # no stop asked: returns
    request_stop(context.job, StopRequest("job 7 (x.y) was cancelled while it ran"))
    assert context.cancelled is True
    with pytest.raises(JobCancelled, match="was cancelled while it ran"):
        context.check_cancelled()


def test_only_running_jobs_whose_row_left_this_worker_and_attempt_are_stopped() -> None:
    def running(pk: int, attempt: int = 1) -> RunningJob:
        return RunningJob(Job(id=pk, path="p", attempt=attempt), thread_id=pk, started=0.0, deadline=None)

    ours, cancelled, rescued, reclaimed, deleted = (running(i) for i in range(1, 6))
    rows = {
        1: (JobState.EXECUTING, "w-1", 1),
        2: (JobState.CANCELLED, "w-1", 1),
        3: (JobState.AVAILABLE, None, 1),
        4: (JobState.EXECUTING, "w-1", 2),  # rescued, then claimed again by this very worker
    }
    stops = {
        run.job.id: request
        for run, request in stop_requests([ours, cancelled, rescued, reclaimed, deleted], rows, "w-1")
    }
    assert sorted(stops) == [2, 3, 4, 5]
    assert stops[2].cancelled and "cancelled while it ran" in stops[2].reason
    assert not stops[3].cancelled and "taken from worker w-1" in stops[3].reason
    assert not stops[4].cancelled
    assert stops[5].cancelled


@pytest.mark.django_db
def test_cli_cancel_takes_job_ids_as_arguments() -> None:
    first, second, other = JobFactory(), JobFactory(), JobFactory()
    out = io.StringIO()
    call_command("jobs", "cancel", str(first.pk), str(second.pk), stdout=out)
    assert out.getvalue() == "Cancelled 2 jobs.\n"
    assert in_state([first, second], "cancelled")
    other.refresh_from_db()
    assert other.state == "available"


# -- a real worker --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_running_sync_job_cancelled_from_the_cli_stops_within_3s_and_never_runs_past_the_cancel(
    runjobs: Callable[..., RunJobs],
) -> None:
    job = cancel_jobs.sleeps_then_marks.enqueue(30)
    behind = fault_jobs.tick.enqueue()
    worker, cancelled_at = start_and_cancel(job, runjobs)
    wait_until(lambda: has_marker(job, "interrupted cancelled=True"), timeout=3, what="the interruption")
    assert time.monotonic() - cancelled_at < 3
    # Its one slot serves the next job.
    wait_until(lambda: in_state([behind], "completed"), timeout=10, what="the job behind it")
    job.refresh_from_db()
    assert (job.state, job.attempt, job.result) == ("cancelled", 1, None), worker.output()
    assert job.errors[-1]["exception"] == "djobs.exceptions.JobCancelled"
    assert markers(job) == ["started", "interrupted cancelled=True"]
    assert "was cancelled while it ran" in worker.output()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_running_async_job_cancelled_from_the_cli_has_its_task_cancelled(
    runjobs: Callable[..., RunJobs],
) -> None:
    job = cancel_jobs.async_sleeps_then_marks.enqueue(30)
    behind = fault_jobs.tick.enqueue()
    worker, cancelled_at = start_and_cancel(job, runjobs)
    wait_until(lambda: has_marker(job, "interrupted cancelled=True"), timeout=3, what="the task's cancel")
    assert time.monotonic() - cancelled_at < 3
    wait_until(lambda: in_state([behind], "completed"), timeout=10, what="the job behind it")
    job.refresh_from_db()
    assert (job.state, job.attempt, job.result) == ("cancelled", 1, None), worker.output()
    assert markers(job) == ["started", "interrupted cancelled=True"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_job_that_catches_the_cancel_and_returns_is_still_cancelled_and_not_retried(
    runjobs: Callable[..., RunJobs],
) -> None:
    job = cancel_jobs.catches_the_cancel.enqueue(30)
    behind = fault_jobs.tick.enqueue()
    worker, _ = start_and_cancel(job, runjobs)
    wait_until(lambda: has_marker(job, "caught the cancel"), timeout=3, what="the interruption")
    wait_until(lambda: in_state([behind], "completed"), timeout=10, what="the job behind it")
    time.sleep(1.0)  # a retry would be claimed by now
    job.refresh_from_db()
    assert (job.state, job.attempt, job.result) == ("cancelled", 1, None), worker.output()
    assert markers(job) == ["started", "caught the cancel"]
    assert "did not record the outcome" not in worker.output()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_job_whose_helper_thread_checks_the_flag_stops_cleanly(
    runjobs: Callable[..., RunJobs],
) -> None:
    job = cancel_jobs.helper_checks_the_flag.enqueue(30)
    worker = runjobs("--queue", "default=1")
    wait_until(lambda: has_marker(job, "started"), timeout=15, what="the job to start")
    assert operations.cancel([job.pk]) == 1
    wait_until(lambda: has_marker(job, "helper stopped cleanly"), timeout=3, what="the helper's clean stop")
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("cancelled", 1), worker.output()
    assert not has_marker(job, "helper ran to the end")


@pytest.mark.django_db(transaction=True)
def test_the_watch_reads_its_running_jobs_at_most_once_per_interval_and_stops_the_cancelled_one() -> None:
    runner = Runner({"default": 1}, burst=True, install_signals=False)
    producer = runner.producers["default"]
    producer.poll_interval = 0.5  # the read interval is min(1 s, POLL_INTERVAL)
    watch = runner.watchdog.cancels
    row = JobFactory(state="executing", worker_id=runner.worker_id, attempt=1)
    interrupted = threading.Event()
    started = threading.Event()

    def job_thread() -> None:
        try:
            started.set()
            for _ in range(200):
                time.sleep(0.01)
        except JobCancelled:
            interrupted.set()

    thread = threading.Thread(target=job_thread)
    thread.start()
    started.wait(5)
    assert thread.ident is not None
    running = RunningJob(Job.objects.get(pk=row.pk), thread.ident, started=0.0, deadline=None)
    runner.holdings.add([row.pk])
    connection = connections[producer.ops.alias]

    def check_at(now: float) -> tuple[int, int]:
        """Return (jobs stopped, queries made) of one check at monotonic time ``now``."""
        with CaptureQueriesContext(connection) as queries:
            stopped = watch.check(runner.producers.values(), now)
        return stopped, len(queries)

    assert check_at(100.0) == (0, 0)  # nothing running: no read
    producer.running[thread.ident] = running
    assert check_at(100.0) == (0, 1)  # one read; still executing here
    assert check_at(100.4) == (0, 0)  # within the interval: no read
    operations.cancel([row.pk])
    assert check_at(100.5) == (1, 1)
    thread.join(5)
    assert interrupted.is_set()
    assert running.timed_out and running.interruption is JobCancelled
    assert JobContext(running.job).cancelled
    assert row.pk not in runner.holdings  # cancelled: nothing left for orphan repair
