"""Wake-ups without LISTEN/NOTIFY (MySQL, MariaDB): the polled change counter, and a real idle worker.

The last test runs on every database: whatever the wake-up, an idle worker
starts a new job long before its POLL_INTERVAL fallback would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

from djobs.db import get_ops
from djobs.models import Job, WorkerProcess
from tests.factories import JobFactory, WorkerProcessFactory
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import worker_jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mysql() -> Iterator[None]:
    if connection.vendor != "mysql":
        pytest.skip("the polled change counter is MySQL's and MariaDB's")
    from djobs.db.change_counter import _Poll

    _Poll.values.clear()
    _Poll.read_at.clear()
    yield
    _Poll.values.clear()
    _Poll.read_at.clear()


def in_another_connection(action: Callable[[], object]) -> None:
    def run() -> None:
        try:
            action()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)


@pytest.mark.usefixtures("mysql")
def test_the_counter_is_read_from_the_database_at_most_once_per_wake_poll_interval() -> None:
    ops = get_ops()
    with override_settings(DJOBS={"WAKE_POLL_INTERVAL": 3600}):
        before = ops.change_counter()
        in_another_connection(lambda: JobFactory())
        assert ops.change_counter() == before  # the value read an hour is good for
    with override_settings(DJOBS={"WAKE_POLL_INTERVAL": 0.001}):
        time.sleep(0.01)
        assert ops.change_counter() != before


@pytest.mark.usefixtures("mysql")
def test_a_job_made_available_without_a_new_id_moves_the_counter() -> None:
    ops = get_ops()
    JobFactory(state="scheduled", scheduled_at=timezone.now())
    with override_settings(DJOBS={"WAKE_POLL_INTERVAL": 0.001}):
        before = ops.change_counter()
        in_another_connection(lambda: get_ops().job_stage(now=timezone.now(), limit=10))
        time.sleep(0.01)
        assert ops.change_counter() != before


@pytest.mark.usefixtures("mysql")
def test_a_claim_reads_no_stale_rows_after_the_counter_moved() -> None:
    ops = get_ops()
    WorkerProcessFactory(id="w1")
    with override_settings(DJOBS={"WAKE_POLL_INTERVAL": 0.001}):
        before = ops.change_counter()
        in_another_connection(lambda: JobFactory(queue="emails"))
        time.sleep(0.01)
        assert ops.change_counter() != before
        [job] = ops.job_claim(queue="emails", limit=5, worker_id="w1", now=timezone.now())
    assert Job.objects.get(pk=job.pk).state == "executing"


def test_an_idle_worker_starts_a_new_job_long_before_its_poll_interval(
    runjobs: Callable[..., RunJobs],
) -> None:
    worker = runjobs("--queue", "default=2", DJOBS_POLL_INTERVAL="30")
    wait_until(WorkerProcess.objects.exists, what="the worker to register")
    time.sleep(0.5)  # past its first claims: idle, waiting for a wake-up
    job = worker_jobs.noop.enqueue()
    # The fallback poll is 30 s away: only the database's wake-up can start it by then.
    wait_until(
        lambda: Job.objects.filter(pk=job.pk, state="completed").exists(),
        timeout=10,
        what=f"the job to complete\n{worker.output()}",
    )
