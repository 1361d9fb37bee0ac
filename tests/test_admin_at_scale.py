"""The admin on big tables: bounded reads, index-served dashboard queries, estimates that say so."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import djobs.admin.jobs
from djobs.admin.dashboard import queries
from djobs.db.admin_reads import (
    job_count_by_queue_sampled,
    job_count_estimated_by_queue,
    job_count_finished_per_minute,
)
from djobs.db.estimates import estimate_rows
from djobs.models import Job
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

S = Job.State
CHANGELIST = "admin:djobs_job_changelist"


@pytest.fixture
def client_(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


# -- pure: how much of a busy hour the chart counts --------------------------------


def test_an_ordinary_hour_is_counted_whole() -> None:
    assert queries.sampled_seconds(None) == (0, 60)
    assert queries.sampled_seconds(1000, exact_up_to=1000) == (0, 60)


def test_a_busy_hour_is_counted_over_a_slice_in_the_middle_of_each_minute() -> None:
    assert queries.sampled_seconds(4000, exact_up_to=1000) == (22, 37)
    assert queries.sampled_seconds(10**9, exact_up_to=1000) == (29, 30)  # never under a second


# -- the statements ---------------------------------------------------------------


def test_sampled_counts_are_exact_per_queue_below_the_cap_and_stop_at_it() -> None:
    JobFactory.create_batch(2, queue="emails", state=S.EXECUTING)
    JobFactory(queue="default", state=S.EXECUTING)
    JobFactory.create_batch(5, queue="emails", state=S.SCHEDULED)
    counts = job_count_by_queue_sampled(connection.alias, [S.EXECUTING, S.SCHEDULED, S.WAITING], cap=4)
    assert counts[S.EXECUTING] == {"emails": 2, "default": 1}
    assert sum(counts[S.SCHEDULED].values()) == 4  # read up to the cap, no further
    assert counts[S.WAITING] == {}


def test_finished_jobs_are_counted_per_minute_and_within_the_chosen_seconds() -> None:
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=3)
    JobFactory.create_batch(2, state=S.COMPLETED, finished_at=start + timedelta(seconds=30))
    JobFactory(state=S.COMPLETED, finished_at=start + timedelta(seconds=5))
    JobFactory(state=S.DISCARDED, finished_at=start + timedelta(minutes=2, seconds=30))
    JobFactory(state=S.CANCELLED, finished_at=start + timedelta(minutes=2, seconds=31))
    JobFactory(state=S.CANCELLED, finished_at=start + timedelta(minutes=2, seconds=50))
    alias, series = connection.alias, [[S.COMPLETED], [S.CANCELLED, S.DISCARDED]]
    assert job_count_finished_per_minute(alias, series, start, 3) == [[3, 0, 0], [0, 0, 3]]
    assert job_count_finished_per_minute(alias, series, start, 3, (20, 40)) == [[2, 0, 0], [0, 0, 2]]


def test_estimates_per_queue_come_from_one_statistics_query_as_explain_would_give_them() -> None:
    JobFactory.create_batch(6, queue="emails", state=S.EXECUTING)
    JobFactory.create_batch(3, queue="default", state=S.SCHEDULED)
    alias, states, queues = connection.alias, [S.EXECUTING, S.SCHEDULED], ["emails", "default"]
    if connection.vendor != "postgresql":
        assert job_count_estimated_by_queue(alias, states, queues) is None  # cell by cell, with EXPLAIN
        return
    assert job_count_estimated_by_queue(alias, states, queues) is None  # never analyzed: no statistics
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE djobs_job")
    with CaptureQueriesContext(connection) as captured:
        estimates = job_count_estimated_by_queue(alias, states, queues)
    assert len(captured.captured_queries) == 1
    assert estimates is not None
    for state in states:
        for queue in queues:
            planner = estimate_rows(Job.objects.filter(state=state, queue=queue))
            assert max(estimates[state][queue], 1) == planner, (state, queue)  # EXPLAIN says 1 for none


def test_a_busy_hour_is_scaled_up_from_its_slices_and_marked_estimated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = timezone.now().replace(second=0, microsecond=0)
    JobFactory.create_batch(2, state=S.COMPLETED, finished_at=now + timedelta(seconds=30))
    JobFactory(state=S.COMPLETED, finished_at=now + timedelta(seconds=2))  # outside the slice
    monkeypatch.setattr(queries, "sampled_seconds", lambda estimate, exact_up_to: (20, 40))
    last = queries.throughput(now)[-1]
    assert (last["completed"], last["estimated"]) == (6, True)  # 2 in 20 s: about 6 a minute


def test_the_dashboard_says_when_the_chart_is_estimated(
    client_: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = client_.get(reverse("admin:djobs_dashboard")).content.decode()
    assert "counted over a slice of its seconds" not in page
    monkeypatch.setattr(queries, "sampled_seconds", lambda estimate, exact_up_to: (20, 40))
    page = client_.get(reverse("admin:djobs_dashboard")).content.decode()
    assert "counted over a slice of its seconds and scaled up" in page


def test_the_queue_panel_marks_an_estimated_executing_count(
    client_: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    JobFactory.create_batch(3, queue="default", state=S.EXECUTING)
    page = client_.get(reverse("admin:djobs_dashboard")).content.decode()
    panel = page[page.index('id="djobs-queues"') :]
    assert '<td class="djobs-num">3</td>' in panel
    estimated = queries.Counts(
        queues=["default"], states=list(S.values), cells={"default": {S.EXECUTING: queries.Cell(3000, True)}}
    )
    monkeypatch.setattr(queries, "counts", lambda: estimated)
    page = client_.get(reverse("admin:djobs_dashboard")).content.decode()
    panel = page[page.index('id="djobs-queues"') :]
    assert '<td class="djobs-num" title="estimate">~3000</td>' in panel


def test_queue_lag_finds_the_oldest_job_across_subpriorities_of_a_priority(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = timezone.now()
    for subpriority, age in ((-5, 10), (0, 20), (3, 400), (7, 30)):
        JobFactory(
            queue="emails", priority=2, subpriority=subpriority, scheduled_at=now - timedelta(seconds=age)
        )
    JobFactory(queue="default", priority=9, scheduled_at=now - timedelta(seconds=50))
    monkeypatch.setattr(queries, "EXACT_UP_TO", 1)  # the skip scan, not the plain MIN()
    lag = queries.queue_lag({"emails": 4, "default": 2}, now)
    assert lag["emails"] == pytest.approx(400, abs=1)
    assert lag["default"] == pytest.approx(50, abs=1)


def test_a_big_state_is_estimated_never_below_the_rows_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    JobFactory.create_batch(4, queue="emails", state=S.EXECUTING)
    JobFactory(queue="emails", state=S.CANCELLED, finished_at=timezone.now())
    monkeypatch.setattr(queries, "EXACT_UP_TO", 2)
    grid = queries.counts()
    executing = grid.cell("emails", S.EXECUTING)
    if connection.vendor == "sqlite":  # no planner estimate: counted
        assert executing == queries.Cell(4)
    else:
        assert executing.estimated and executing.value >= 3  # the sample read 3 rows
    assert grid.cell("emails", S.CANCELLED) == queries.Cell(1)  # a small state stays exact


# -- PostgreSQL: what the planner does with the dashboard's statements -------------


def _plans_scanning_the_table(captured: list[dict[str, Any]]) -> list[str]:
    """Return the captured statements on djobs_job whose plan reads the whole table."""
    found = []
    with connection.cursor() as cursor:
        for query in captured:
            sql = query["sql"]
            if "djobs_job" not in sql or not sql.lstrip("( ").upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
            plan = cursor.fetchone()[0]
            text = json.dumps(plan if not isinstance(plan, str) else json.loads(plan))
            if '"Node Type": "Seq Scan"' in text and '"Relation Name": "djobs_job"' in text:
                found.append(sql[:200])
    return found


@pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN shapes are PostgreSQL's")
def test_every_dashboard_statement_is_served_by_an_index() -> None:
    now = timezone.now()
    for state in S.values:
        JobFactory.create_batch(2, state=state, finished_at=now, queue="emails")
    with connection.cursor() as cursor:
        # Costs as on a big table: a statement no index can serve still plans a Seq Scan.
        cursor.execute("SET LOCAL enable_seqscan = off")
    with CaptureQueriesContext(connection) as captured:
        queries.snapshot()
    assert _plans_scanning_the_table(captured.captured_queries) == []


# -- the job list's argument search ------------------------------------------------


def test_argument_search_reads_the_window_once_and_lists_its_matches(client_: Client) -> None:
    wanted = JobFactory.create_batch(2, args=["needle-7"])
    JobFactory(args=["hay"])
    with CaptureQueriesContext(connection) as captured:
        response = client_.get(reverse(CHANGELIST), {"q": "needle-7"})
    assert sorted(j.pk for j in response.context["cl"].result_list) == sorted(j.pk for j in wanted)
    assert sum("LIKE" in q["sql"].upper() for q in captured.captured_queries) == 1
    assert "Arguments searched among the latest 50,000 jobs." in response.content.decode()


def test_argument_search_past_its_limit_lists_the_newest_and_says_at_least(
    client_: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    matches = JobFactory.create_batch(3, args=["needle-8"])
    monkeypatch.setattr(djobs.admin.jobs, "ARGUMENT_SEARCH_LIMIT", 2)
    response = client_.get(reverse(CHANGELIST), {"q": "needle-8"})
    assert [j.pk for j in response.context["cl"].result_list] == [matches[2].pk, matches[1].pk]
    assert "At least 2 of the latest 50,000 jobs have this text" in response.content.decode()


def test_argument_search_keeps_the_list_filters(client_: Client) -> None:
    JobFactory(args=["needle-9"], queue="emails")
    kept = JobFactory(args=["needle-9"], queue="reports")
    response = client_.get(reverse(CHANGELIST), {"q": "needle-9", "queue": "reports"})
    assert [j.pk for j in response.context["cl"].result_list] == [kept.pk]
