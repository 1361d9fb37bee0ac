"""A job executing under a live worker that does not hold it (an orphan) goes back to work."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import timezone

from djobs.models import Job
from tests.fault_support import FAST, in_state, ticks, worker_id_of
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import fault_jobs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_jobs_executing_under_a_live_worker_that_never_claimed_them_are_put_back_and_run(
    runjobs: Callable[..., RunJobs],
) -> None:
    worker = runjobs("--queue", "default=1", **FAST)
    worker_id = worker_id_of(worker)
    path = fault_jobs.tick.path
    # A claim whose answer never reached the worker (the connection dropped after
    # the commit), one that had started and one that had not.
    started = Job.objects.create(
        path=path, state="executing", worker_id=worker_id, attempt=1, attempted_at=timezone.now()
    )
    unstarted = Job.objects.create(path=path, state="executing", worker_id=worker_id, attempt=1)
    orphans = [started, unstarted]
    # Repaired within about 2 x RESCUE_AFTER (2 s here), then run.
    wait_until(lambda: in_state(orphans, "completed"), timeout=8, what="the orphans to run")
    for job in orphans:
        job.refresh_from_db()
        assert ticks(job) == 1
        assert any("orphan" in entry["error"].lower() for entry in job.errors), (job.errors, worker.output())
