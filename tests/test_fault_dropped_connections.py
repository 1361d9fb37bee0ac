"""The worker's claim and outcome connections killed mid-run (pg_terminate_backend): no job stuck or lost."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.db import connection

from djobs.models import Job
from tests.fault_support import FAST
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import fault_jobs
from tests.testapp.models import Marker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.postgres]

JOBS = 2000
#: What the statements of each connection contain, as pg_stat_activity shows them.
CLAIM = "%FOR UPDATE SKIP LOCKED%"
RECORD = "%json_to_recordset%"


def terminate(pattern: str) -> int:
    """Terminate the other sessions of this database whose statement matches; return how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE %s""",
            [pattern],
        )
        return sum(1 for (done,) in cursor.fetchall() if done)


def unfinished() -> int:
    return Job.objects.filter(path=fault_jobs.tick.path).exclude(state="completed").count()


def test_claim_and_outcome_connections_terminated_mid_run_leave_no_job_stuck_or_lost(
    runjobs: Callable[..., RunJobs],
) -> None:
    fault_jobs.tick.enqueue_many([()] * JOBS)
    worker = runjobs("--queue", "default=4", **FAST)
    terminated = {CLAIM: 0, RECORD: 0}
    end = time.monotonic() + 20
    while time.monotonic() < end and unfinished():
        for pattern in terminated:
            terminated[pattern] += terminate(pattern)
        time.sleep(0.02)
    assert terminated[CLAIM] and terminated[RECORD], terminated
    # Repairs (a claim committed but never answered is an orphan) take about 2 x RESCUE_AFTER.
    wait_until(lambda: not unfinished(), timeout=20, what="every job to complete")
    ran = Marker.objects.filter(name="tick").values("job_id").distinct().count()
    assert ran == JOBS, worker.output()[-3000:]
