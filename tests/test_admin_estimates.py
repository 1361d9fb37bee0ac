"""Row counts for big tables: exact up to a cap, the planner's estimate beyond (PostgreSQL, MySQL)."""

from __future__ import annotations

import pytest
from django.db import connection

from djobs.db import get_ops
from djobs.db.estimates import count_rows, estimate_rows
from djobs.models import Job
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def estimates() -> bool:
    return get_ops().supports_row_estimates


def test_small_counts_are_exact() -> None:
    JobFactory.create_batch(3)
    JobFactory(state=Job.State.COMPLETED)
    rows = count_rows(Job.objects.filter(state=Job.State.AVAILABLE), exact_up_to=10)
    assert (rows.value, rows.estimated) == (3, False)


def test_counts_past_the_cap_are_estimated_where_the_database_can(estimates: bool) -> None:
    JobFactory.create_batch(5)
    if connection.vendor != "mysql":  # where ANALYZE TABLE would commit the test's transaction
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE djobs_job" if connection.vendor == "postgresql" else "ANALYZE")
    rows = count_rows(Job.objects.all(), exact_up_to=2)
    if estimates:
        assert rows.estimated and rows.value >= 3  # never below the rows already seen
    else:
        assert (rows.value, rows.estimated) == (5, False)  # SQLite has no estimate: exact


def test_estimate_rows_is_none_without_a_planner_estimate(estimates: bool) -> None:
    estimate = estimate_rows(Job.objects.filter(queue="emails"))
    assert (estimate is None) is (not estimates)


def test_the_paginator_stops_at_max_pages() -> None:
    from djobs.admin.paginator import EstimatedCountPaginator

    JobFactory.create_batch(5)
    paginator = EstimatedCountPaginator(Job.objects.all(), per_page=1)
    paginator.max_pages = 2
    assert (paginator.count, paginator.num_pages) == (5, 2)
    assert [j.pk for j in paginator.page(2)] == [Job.objects.all()[1].pk]
