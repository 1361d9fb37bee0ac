"""Migration 0011: on PostgreSQL the state indexes carry the columns the dashboard counts by."""

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
