"""runjobs as a real process: graceful shutdown, SIGKILL and rescue, timeouts."""

from __future__ import annotations

import signal
import time

import pytest
from django.utils import timezone

from djobs.maintenance.rescuer import Rescuer, RescuerConfig
from djobs.models import Job, WorkerProcess
from djobs.worker.runner import Runner, run_burst
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import worker_jobs
from tests.testapp.models import Marker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def started(job: Job) -> bool:
    return Marker.objects.filter(name__in=["started", "attempt 1"], job_id=job.id).exists()


def start_recorded(job: Job) -> bool:
    """Say whether the job started and the worker has written its start (about 100 ms later).

    Killed before that, the job would count as claimed but never started, and
    get its attempt back.
    """
    return started(job) and Job.objects.filter(pk=job.pk, attempted_at__isnull=False).exists()


def test_sigterm_lets_the_running_job_finish_and_records_it(processes: list[RunJobs]) -> None:
    job = worker_jobs.slow.enqueue(1.0)
    worker = RunJobs("--queue", "default=2")
    processes.append(worker)
    wait_until(lambda: started(job), what="the job to start")
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.output()
    job.refresh_from_db()
    assert job.state == "completed", worker.output()
    assert job.result == "done"
    assert Marker.objects.filter(name="finished", job_id=job.id).exists()
    assert not WorkerProcess.objects.exists()


def test_job_still_running_after_the_grace_period_is_released_not_lost(
    processes: list[RunJobs],
) -> None:
    job = worker_jobs.slow.enqueue(30)
    worker = RunJobs("--queue", "default=1", DJOBS_SHUTDOWN_GRACE="0.5")
    processes.append(worker)
    wait_until(lambda: started(job), what="the job to start")
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.output()
    job.refresh_from_db()
    # It started, so the interrupted attempt counts (attempts count runs that started).
    assert (job.state, job.attempt, job.worker_id) == ("available", 1, None)
    assert job.errors[-1]["error"].startswith("WorkerReleased")
    assert "the attempt counts" in job.errors[-1]["error"]
    Job.objects.filter(pk=job.pk).update(args=[0])  # quick the second time
    run_burst({"default": 1})
    job.refresh_from_db()
    assert (job.state, job.attempt, job.result) == ("completed", 2, "done")


def test_second_signal_exits_at_once(processes: list[RunJobs]) -> None:
    job = worker_jobs.sleeps_on_first_attempt.enqueue(30)
    worker = RunJobs("--queue", "default=1")
    processes.append(worker)
    wait_until(lambda: started(job), what="the job to start")
    worker.signal(signal.SIGTERM)
    wait_until(lambda: "got SIGTERM" in worker.output(), what="the first signal to land")
    worker.signal(signal.SIGINT)
    assert worker.wait(5) == 1
    job.refresh_from_db()
    assert job.state == "executing"  # left for the rescuer


def test_job_of_a_worker_killed_with_sigkill_is_rescued_and_runs_again(
    processes: list[RunJobs],
) -> None:
    job = worker_jobs.sleeps_on_first_attempt.enqueue(30)
    worker = RunJobs("--queue", "default=1", DJOBS_HEARTBEAT_INTERVAL="0.2")
    processes.append(worker)
    wait_until(lambda: start_recorded(job), what="the job to start")
    worker.signal(signal.SIGKILL)
    worker.wait(5)
    job.refresh_from_db()
    assert job.state == "executing"
    # Nothing is rescued on a first look: a rescuer must watch the heartbeat stand still...
    rescuer = Rescuer(RescuerConfig(rescue_after=0.5))
    assert rescuer.run_once().counts["rescued"] == 0
    # ...and the job comes back once it has, for rescue_after.
    wait_until(
        lambda: rescuer.run_once().counts["rescued"] == 1,
        timeout=10,
        what="the rescue",
    )
    job.refresh_from_db()
    assert job.state == "available"
    assert "stopped heartbeating" in job.errors[-1]["error"]
    again = RunJobs("--burst", "--queue", "default=1")
    processes.append(again)
    assert again.wait(30) == 0, again.output()
    job.refresh_from_db()
    assert (job.state, job.attempt, job.result) == ("completed", 2, 2)


def test_worker_rescues_jobs_of_a_dead_worker_by_itself(processes: list[RunJobs]) -> None:
    job = worker_jobs.sleeps_on_first_attempt.enqueue(30)
    first = RunJobs("--queue", "default=1")
    processes.append(first)
    wait_until(lambda: start_recorded(job), what="the job to start")
    first.signal(signal.SIGKILL)
    first.wait(5)
    second = RunJobs("--queue", "default=1", DJOBS_RESCUE_AFTER="1", DJOBS_HEARTBEAT_INTERVAL="0.2")
    processes.append(second)
    wait_until(
        lambda: Job.objects.filter(pk=job.pk, state="completed").exists(),
        timeout=20,
        what="the rescued job to complete",
    )
    second.signal(signal.SIGTERM)
    assert second.wait(20) == 0


def test_timed_out_job_is_recorded_as_failed_and_stopped() -> None:
    job = worker_jobs.loops_past_timeout.enqueue(5)
    started_at = timezone.now()
    run_burst({"default": 1})
    job.refresh_from_db()
    assert job.state == "retryable"
    assert job.errors[-1]["error"].startswith("JobTimeout: ")
    assert "timeout of 0.3s" in job.errors[-1]["error"]
    # The thread was stopped by the timeout exception, long before the loop's 5 s.
    assert (timezone.now() - started_at).total_seconds() < 4


def test_late_result_of_a_job_that_ignores_its_timeout_is_ignored() -> None:
    job = worker_jobs.blocks_in_c_past_timeout.enqueue(1.0)
    run_burst({"default": 1})
    job.refresh_from_db()
    assert job.state == "retryable"
    assert job.result is None
    assert job.errors[-1]["error"].startswith("JobTimeout: ")


def test_a_thread_stuck_past_its_timeout_is_replaced_so_the_queue_keeps_its_slot() -> None:
    stuck = worker_jobs.blocks_in_c_past_timeout.enqueue(3.0)
    behind = worker_jobs.noop.using(schedule_in=0.5).enqueue()
    runner = Runner({"default": 1}, burst=True, install_signals=False)
    runner.watchdog.clog_grace = 0.2
    started = time.monotonic()
    assert runner.run() == 0
    # The job behind ran while the stuck thread still slept: a new thread had its slot.
    assert time.monotonic() - started < 2.5
    behind.refresh_from_db()
    stuck.refresh_from_db()
    assert behind.state == "completed"
    assert (stuck.state, stuck.result) == ("retryable", None)
    assert stuck.errors[-1]["error"].startswith("JobTimeout: ")


def test_worker_whose_stuck_threads_reach_its_concurrency_asks_for_a_restart() -> None:
    from djobs.worker.runner import RESTART

    jobs = worker_jobs.blocks_in_c_past_timeout.enqueue_many([(3.0,), (3.0,)])
    runner = Runner({"default": 1}, burst=True, install_signals=False)
    runner.watchdog.clog_grace = 0.2
    assert runner.run() == RESTART
    for job in jobs:
        job.refresh_from_db()
        assert job.state == "retryable"
        assert job.errors[-1]["error"].startswith("JobTimeout: ")


def test_claimed_jobs_not_started_at_shutdown_are_released() -> None:
    from djobs.worker.producer import Producer

    jobs = worker_jobs.noop.enqueue_many([(), ()])
    runner = Runner({"default": 1}, burst=True, install_signals=False)
    producer: Producer = runner.producers["default"]
    runner.ops.worker_register(worker_id=runner.worker_id, hostname="h", pid=1, queues={}, now=timezone.now())
    claimed = runner.ops.job_claim(queue="default", limit=2, worker_id=runner.worker_id, now=timezone.now())
    for job in claimed:
        producer._inbox.put((job, 0))
    producer.in_flight = 2
    runner._shutdown()
    assert set(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("state", "attempt")) == {
        ("available", 0)
    }
    for errors in Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("errors", flat=True):
        assert "claimed but never started, so the attempt is not counted" in errors[-1]["error"]
