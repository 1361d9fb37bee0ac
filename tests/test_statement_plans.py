"""PostgreSQL: the outcome statements find their rows by primary key, whatever the statistics say.

Outcomes and start marks leave dead entries in the partial index of executing
jobs until a VACUUM; a plan that walked that index would read all of them on
every outcome written. With statistics taken while few jobs execute, the
planner would pick it if the statements let it.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.utils import timezone

from djobs.db import postgres
from djobs.models import Job
from tests.factories import JobFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _plan(sql: str, params: list[object]) -> str:
    with connection.cursor() as cursor:
        # Prepared statements end up on the generic plan: check that one.
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        (plan,) = cursor.fetchone()
    return json.dumps(plan)


@pytest.fixture
def executing() -> list[Job]:
    # Enough rows that reading the whole table is not the cheapest plan.
    template = JobFactory(state="available")
    columns = ", ".join(f.column for f in Job._meta.concrete_fields if f.column not in ("id", "unique_key"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO djobs_job ({columns}) SELECT {columns} FROM djobs_job, "
            "generate_series(1, 20000) WHERE id = %s",
            [template.id],
        )
        cursor.execute("ANALYZE djobs_job")  # no job executing yet: the index looks empty
    jobs = JobFactory.create_batch(30, state="executing", worker_id="w", attempt=1)
    return jobs


def test_outcomes_are_written_through_the_primary_key(executing: list[Job]) -> None:
    items = [{"id": job.id, "attempt": 1, "state": "completed", "delta": 0, "bit": 16} for job in executing]
    plan = _plan(postgres._RECORD_SQL, [json.dumps(items), "w"])
    assert "djobs_job_pkey" in plan
    assert "djobs_job_executing" not in plan


def test_start_marks_are_written_through_the_primary_key(executing: list[Job]) -> None:
    now = timezone.now()
    params = [[job.id for job in executing], [1] * len(executing), [now] * len(executing), "w"]
    plan = _plan(postgres._MARK_STARTED_SQL, params)
    assert "djobs_job_pkey" in plan
    assert "djobs_job_executing" not in plan


def test_an_atomic_jobs_completion_is_written_through_the_primary_key(executing: list[Job]) -> None:
    from djobs.db import postgres_atomic

    now = timezone.now()
    plan = _plan(postgres_atomic._COMPLETE_ONE_SQL, [now, now, None, executing[0].id, "w", 1])
    assert "djobs_job_pkey" in plan
    assert "djobs_job_executing" not in plan
