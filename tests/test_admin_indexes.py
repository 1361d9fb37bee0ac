"""Migrations 0011 and 0013: on PostgreSQL the state indexes carry the columns the admin reads by."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the wider shapes are PostgreSQL's")
def test_the_state_indexes_carry_the_queue_for_index_only_counts() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'djobs_job'")
        indexes = dict(cursor.fetchall())
    assert "(state, finished_at, queue)" in indexes["djobs_job_finished"]
    assert "(worker_id, queue)" in indexes["djobs_job_executing"]
    assert "(scheduled_at, state, queue)" in indexes["djobs_job_staged"]
    # Key columns, not INCLUDE: PostgreSQL deduplicates only indexes without INCLUDE columns.
    assert not any("INCLUDE" in indexes[name] for name in ("djobs_job_finished", "djobs_job_executing"))


def test_finished_jobs_are_indexed_by_queue_for_the_job_list() -> None:
    with connection.cursor() as cursor:
        indexes = {index.lower() for index in connection.introspection.get_constraints(cursor, "djobs_job")}
    if connection.vendor != "postgresql":
        assert "djobs_job_finished_queue" not in indexes  # migration 0013 is PostgreSQL's alone
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'djobs_job_finished_queue'")
        (definition,) = cursor.fetchone()
    assert "(queue, state, id)" in definition
    assert "completed" in definition and "available" not in definition  # enqueue and claim write nothing
