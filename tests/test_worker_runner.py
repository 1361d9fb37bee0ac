"""runjobs options, LISTEN wake-ups, and several processes sharing one queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from djobs.models import Job
from djobs.worker.runner import Runner
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import worker_jobs
from tests.testapp.models import JobRun


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("emails=0", "concurrency '0' must be an integer of at least 1"),
        ("emails=many", "concurrency 'many' must be an integer"),
        ("=3", "must be a non-empty string"),
    ],
)
def test_bad_queue_option_is_refused_with_the_fix(value: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("runjobs", "--burst", "--queue", value)


def test_queue_given_twice_is_refused() -> None:
    with pytest.raises(CommandError, match="given twice"):
        call_command("runjobs", "--burst", "--queue", "a=1", "--queue", "a=2")


@pytest.fixture
def live_runner() -> Iterator[Runner]:
    with override_settings(DJOBS={"QUEUES": {"default": 2}, "POLL_INTERVAL": 30.0}):
        runner = Runner({"default": 2}, install_signals=False)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        try:
            yield runner
        finally:
            runner.request_stop()
            thread.join(20)
    assert not thread.is_alive()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_idle_worker_is_woken_by_notify_not_by_polling(live_runner: Runner) -> None:
    assert live_runner.notifier is not None
    assert live_runner.notifier.connected.wait(10)
    time.sleep(0.3)  # the producer has made its first (empty) claim and sleeps for 30 s
    job = worker_jobs.noop.enqueue()
    wait_until(lambda: Job.objects.filter(pk=job.pk, state="completed").exists(), timeout=5)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_listens_again_after_its_listen_connection_breaks(live_runner: Runner) -> None:
    notifier = live_runner.notifier
    assert notifier is not None and notifier.connected.wait(10)
    notifier.break_connection()
    wait_until(lambda: notifier.connects >= 2 and notifier.connected.is_set(), timeout=10)
    time.sleep(0.3)
    job = worker_jobs.noop.enqueue()
    wait_until(lambda: Job.objects.filter(pk=job.pk, state="completed").exists(), timeout=5)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_polling_worker_picks_up_scheduled_jobs_when_due() -> None:
    job = worker_jobs.noop.using(schedule_in=1).enqueue()
    worker = RunJobs("--queue", "default=1")
    try:
        wait_until(lambda: Job.objects.filter(pk=job.pk, state="completed").exists(), timeout=15)
    finally:
        worker.stop()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_four_processes_draining_20k_jobs_run_each_exactly_once() -> None:
    total = 20_000
    worker_jobs.record_run.enqueue_many([() for _ in range(total)])
    workers = [RunJobs("--burst", "--queue", "default=5") for _ in range(4)]
    try:
        for worker in workers:
            assert worker.wait(300) == 0, worker.output()[-3000:]
    finally:
        for worker in workers:
            worker.stop()
    assert JobRun.objects.count() == total
    assert Job.objects.filter(state="completed", attempt=1).count() == total
    # Every process took part.
    assert JobRun.objects.values("worker").distinct().count() == 4


@pytest.mark.django_db(transaction=True)
def test_worker_beats_and_re_registers_when_presumed_dead() -> None:
    from djobs.models import WorkerProcess

    with override_settings(DJOBS={"QUEUES": {"default": 1}, "HEARTBEAT_INTERVAL": 0.1}):
        runner = Runner({"default": 1}, install_signals=False)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        try:
            wait_until(lambda: WorkerProcess.objects.filter(id=runner.worker_id).exists())
            first = WorkerProcess.objects.get(id=runner.worker_id).heartbeat_at
            wait_until(
                lambda: WorkerProcess.objects.get(id=runner.worker_id).heartbeat_at > first,
                timeout=5,
            )
            WorkerProcess.objects.filter(id=runner.worker_id).delete()
            wait_until(lambda: WorkerProcess.objects.filter(id=runner.worker_id).exists(), timeout=5)
        finally:
            runner.request_stop()
            thread.join(20)
    assert not WorkerProcess.objects.filter(id=runner.worker_id).exists()
