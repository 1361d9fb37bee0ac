"""A prune backlog longer to delete than the rescue window does not get a live worker presumed dead."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from djobs.models import Job
from tests.fault_support import FAST, starts
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import fault_jobs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BACKLOG = 300_000
PATH = "tests.testapp.fault_jobs.expired"


def insert_expired(count: int, finished_at: object) -> None:
    """Insert ``count`` completed jobs finished at ``finished_at``, in one statement."""
    numbers = (
        "generate_series(1, %s)"
        if connection.vendor == "postgresql"
        else "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) SELECT i FROM n)"
    )
    at = connection.ops.adapt_datetimefield_value(finished_at)
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":  # both cap recursion at 1,000 by default
            name = "max_recursive_iterations" if connection.mysql_is_mariadb else "cte_max_recursion_depth"
            cursor.execute(f"SET SESSION {name} = %s", [count + 1])
        cursor.execute(
            f"""INSERT INTO djobs_job (state, queue, path, args, kwargs, meta, tags, priority,
                    attempt, max_attempts, errors, unique_states,
                    inserted_at, scheduled_at, attempted_at, finished_at)
                SELECT 'completed', 'default', %s, '[]', '{{}}', '{{}}', '[]', 0, 1, 1, '[]', 0,
                    %s, %s, %s, %s
                FROM {numbers} AS numbers""",
            [PATH, at, at, at, at, count],
        )


def test_prune_backlog_does_not_starve_the_heartbeat_of_the_worker_pruning_it(
    runjobs: Callable[..., RunJobs],
) -> None:
    insert_expired(BACKLOG, timezone.now() - timedelta(hours=1))
    job = fault_jobs.paced.enqueue(8)
    # This worker keeps finished jobs 60 s: its first maintenance round meets the backlog.
    pruning = runjobs("--queue", "default=1", DJOBS_RETENTION="60", DJOBS_PRUNE_INTERVAL="1", **FAST)
    wait_until(lambda: starts(job), what="the long job to start")
    # This one keeps them a day (the default): it only watches, ready to rescue.
    watching = runjobs("--queue", "default=1", **FAST)
    wait_until(
        lambda: Job.objects.filter(pk=job.pk, state="completed").exists(), timeout=20, what="completion"
    )
    job.refresh_from_db()
    assert len(starts(job)) == 1, pruning.output() + watching.output()
    assert (job.attempt, job.errors) == (1, [])
    assert Job.objects.filter(path=PATH).count() < BACKLOG  # the pruner did work meanwhile
