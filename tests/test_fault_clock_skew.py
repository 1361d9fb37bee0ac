"""Workers whose clocks disagree: staleness is judged by a heartbeat that stops changing, not by clocks."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from djobs.models import Job, WorkerProcess
from tests.fault_support import FAST, starts
from tests.runjobs_process import ROOT, RunJobs, wait_until
from tests.testapp import fault_jobs

# time.sleep for processes under faketime (see its docstring).
SHIM = Path(__file__).parent / "faketime"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    # .ci/run installs faketime; elsewhere these tests skip without it.
    pytest.mark.skipif(
        shutil.which("faketime") is None and not os.environ.get("CI"),
        reason="needs faketime (apt-get install faketime)",
    ),
]


def skewed(runjobs: Callable[..., RunJobs], offset: str, *args: str) -> RunJobs:
    """Start runjobs with its wall clock shifted by ``offset`` (its monotonic clock is its own)."""
    return runjobs(
        *args,
        prefix=["faketime", "-m", "--exclude-monotonic", "-f", offset],
        PYTHONPATH=os.pathsep.join([str(SHIM), str(ROOT)]),
        **FAST,
    )


def completed(job: Job) -> bool:
    return Job.objects.filter(pk=job.pk, state="completed").exists()


def test_job_of_a_worker_whose_clock_is_90s_behind_is_not_rescued(runjobs: Callable[..., RunJobs]) -> None:
    job = fault_jobs.paced.using(queue="skewed").enqueue(5)
    behind = skewed(runjobs, "-90s", "--queue", "skewed=1")
    wait_until(lambda: starts(job), what="the job to start on the worker 90 s behind")
    normal = runjobs("--queue", "default=1", **FAST)
    wait_until(lambda: completed(job), timeout=20, what="completion")
    job.refresh_from_db()
    assert len(starts(job)) == 1, behind.output() + normal.output()
    assert (job.attempt, job.errors) == (1, [])
    assert job.finished_at < timezone.now() - timedelta(seconds=60)  # its clock was behind


def test_worker_whose_clock_is_90s_ahead_rescues_no_job_of_a_live_worker(
    runjobs: Callable[..., RunJobs],
) -> None:
    job = fault_jobs.paced.enqueue(5)
    normal = runjobs("--queue", "default=1", **FAST)
    wait_until(lambda: starts(job), what="the job to start")
    ahead = skewed(runjobs, "+90s", "--queue", "other=1")
    future = WorkerProcess.objects.filter(started_at__gt=timezone.now() + timedelta(seconds=60))
    try:
        # A Python and Django start under faketime on a loaded CI machine: give it time.
        wait_until(future.exists, timeout=40, what="the worker 90 s ahead to register")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; its output:\n{ahead.output()}") from None
    wait_until(lambda: completed(job), timeout=20, what="completion")
    job.refresh_from_db()
    assert len(starts(job)) == 1, normal.output() + ahead.output()
    assert (job.attempt, job.errors) == (1, [])
