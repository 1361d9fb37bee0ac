"""A job's timeout cannot be swallowed by ``except Exception``, and a stuck thread does not cost a slot."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from djobs import JobTimeout
from tests.fault_support import FAST, in_state
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import fault_jobs
from tests.testapp.models import Marker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_job_timeout_is_not_an_exception_that_except_exception_catches() -> None:
    assert issubclass(JobTimeout, BaseException)
    assert not issubclass(JobTimeout, Exception)


def test_timeout_stops_a_job_that_catches_every_exception_and_its_slot_runs_the_next_job(
    runjobs: Callable[..., RunJobs],
) -> None:
    stuck = fault_jobs.swallows_exceptions.enqueue(30)
    behind = fault_jobs.tick.enqueue()
    worker = runjobs("--queue", "default=1", **FAST)
    wait_until(lambda: in_state([behind], "completed"), timeout=6, what="the job behind it")
    stuck.refresh_from_db()
    assert (stuck.state, stuck.result) == ("discarded", None), worker.output()
    assert stuck.errors[-1]["error"].startswith("JobTimeout: ")
    # The timeout ended the loop: the job never reached its last line.
    assert not Marker.objects.filter(name__startswith="swallower returned").exists()


def test_thread_stuck_past_its_timeout_is_replaced_and_the_queue_keeps_running(
    runjobs: Callable[..., RunJobs],
) -> None:
    stuck = fault_jobs.ignores_its_timeout.enqueue(60)
    behind = fault_jobs.tick.enqueue_many([()] * 3)
    worker = runjobs("--queue", "default=1", **FAST)
    wait_until(lambda: in_state(behind, "completed"), timeout=15, what="the jobs behind it")
    stuck.refresh_from_db()
    assert (stuck.state, stuck.result) == ("discarded", None)
    assert stuck.errors[-1]["error"].startswith("JobTimeout: ")
    # Replaced in place: the process neither exited nor restarted itself.
    assert worker.process.poll() is None
    assert "restarting" not in worker.output(), worker.output()
