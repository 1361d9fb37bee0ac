"""A job rescued from a paused worker while it ran is stopped there once the worker resumes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from djobs.models import Job
from tests.fault_support import FAST, pause, worker_id_of
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import cancel_jobs
from tests.testapp.models import Marker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def markers(job: Job) -> list[str]:
    return list(Marker.objects.filter(job_id=job.pk).order_by("id").values_list("name", flat=True))


def test_job_rescued_from_a_paused_worker_is_interrupted_there_and_runs_again_once(
    runjobs: Callable[..., RunJobs],
) -> None:
    job = cancel_jobs.sleeps_then_marks.enqueue(30)
    # The rescuer serves another queue: the rescued job waits for the paused worker.
    runjobs("--queue", "other=1", **FAST)
    paused = runjobs("--queue", "default=1", **FAST)
    paused_id = worker_id_of(paused)
    wait_until(lambda: markers(job) == ["started"], timeout=15, what="the job to start")
    pause(paused, 4)  # past RESCUE_AFTER=2: the other worker rescues the running job
    # Resumed, the worker sees the row is no longer its own, stops the old run and
    # (its only slot free again) claims the rescued job as attempt 2.
    wait_until(lambda: len(markers(job)) >= 3, timeout=10, what="the old run to stop and the next to start")
    assert markers(job)[:3] == ["started", "interrupted cancelled=True", "started"], paused.output()
    job.refresh_from_db()
    # Attempt 2, or 1 again if the rescue came before the first run's start was written.
    assert (job.state, job.worker_id) == ("executing", paused_id)
    assert job.attempt in (1, 2)
    assert "after the loop" not in markers(job)
    assert f"was taken from worker {paused_id} while it ran" in paused.output()
