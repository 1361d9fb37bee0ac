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
    STATE_GROUPS,
    job_count_across_states,
    job_count_by_queue_sampled,
    job_count_estimated_by_queue,
    job_count_finished_per_minute,
    job_ids_across_queues,
    job_ids_across_states,
    job_queues_finished,
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


# -- the job list filtered by queue, read state by state ----------------------------


def test_every_state_is_read_in_exactly_one_group() -> None:
    grouped = [state for states in STATE_GROUPS for state in states]
    assert sorted(grouped) == sorted(S.values)


@pytest.fixture
def queue_of_every_state() -> list[Job]:
    """Jobs of queue "emails" in every state, interleaved with jobs of another queue; newest last."""
    now = timezone.now()
    jobs = []
    for round_ in range(3):
        for state in S.values:
            finished = now if state in (S.COMPLETED, S.DISCARDED, S.CANCELLED) else None
            jobs.append(JobFactory(queue="emails", state=state, finished_at=finished, priority=round_))
            JobFactory(queue="default", state=state, finished_at=finished)
    return jobs


def test_ids_read_state_by_state_are_the_lists_ids_in_either_order(queue_of_every_state: list[Job]) -> None:
    emails = Job.objects.filter(queue="emails")
    newest = list(emails.order_by("-id").values_list("id", flat=True))
    assert job_ids_across_states(emails, descending=True, offset=0, limit=5) == newest[:5]
    assert job_ids_across_states(emails, descending=True, offset=5, limit=100) == newest[5:]
    assert job_ids_across_states(emails, descending=False, offset=3, limit=4) == sorted(newest)[3:7]
    assert job_ids_across_states(emails.filter(priority=1), descending=True, offset=0, limit=50) == [
        job.pk for job in reversed(queue_of_every_state) if job.priority == 1
    ]
    assert (
        job_ids_across_states(Job.objects.filter(queue="nowhere"), descending=True, offset=0, limit=5) == []
    )


def test_counted_state_by_state_up_to_the_cap(queue_of_every_state: list[Job]) -> None:
    emails = Job.objects.filter(queue="emails")
    assert job_count_across_states(emails, cap=1000) == len(queue_of_every_state)
    assert job_count_across_states(emails, cap=7) == 7


def test_the_queue_filter_lists_the_queues_newest_jobs_in_every_state_page_by_page(
    client_: Client, queue_of_every_state: list[Job], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every database runs the state-by-state read here (PostgreSQL alone does in use).
    monkeypatch.setattr(djobs.admin.jobs, "reads_across_states", lambda alias: True)
    monkeypatch.setattr(djobs.admin.jobs.JobAdmin, "list_per_page", 10)
    newest = [job.pk for job in reversed(queue_of_every_state)]
    pages = []
    for page in (1, 2, 3):
        with CaptureQueriesContext(connection) as captured:
            response = client_.get(reverse(CHANGELIST), {"queue": "emails", "p": page})
        cl = response.context["cl"]
        assert cl.paginator.split == "states"
        assert cl.result_count == len(newest)
        pages.append([job.pk for job in cl.result_list])
        assert sum("UNION ALL" in q["sql"] for q in captured.captured_queries) == 2  # the count, the page
    assert pages == [newest[:10], newest[10:20], newest[20:]]
    oldest_first = client_.get(reverse(CHANGELIST), {"queue": "emails", "o": "1"}).context["cl"]
    assert [job.pk for job in oldest_first.result_list] == sorted(newest)[:10]


def test_a_queue_list_of_one_page_is_read_state_by_state_too(
    client_: Client, queue_of_every_state: list[Job], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Django lists a single page as the whole queryset, with no LIMIT: read the ids first.
    monkeypatch.setattr(djobs.admin.jobs, "reads_across_states", lambda alias: True)
    with CaptureQueriesContext(connection) as captured:
        cl = client_.get(reverse(CHANGELIST), {"queue": "emails"}).context["cl"]
        listed = [job.pk for job in cl.result_list]
    assert listed == [job.pk for job in reversed(queue_of_every_state)]
    by_queue = [
        q["sql"] for q in captured.captured_queries if "queue" in q["sql"] and "djobs_job" in q["sql"]
    ]
    # The count and the ids state by state, then the rows by primary key.
    by_pk = f"{connection.ops.quote_name('djobs_job')}.{connection.ops.quote_name('id')} IN ("
    assert by_queue and all("UNION ALL" in sql or by_pk in sql for sql in by_queue)
    empty = client_.get(reverse(CHANGELIST), {"queue": "nowhere"}).context["cl"]
    assert (empty.result_count, list(empty.result_list)) == (0, [])


def test_the_list_is_split_where_one_filter_is_missing_and_no_batch_narrows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(djobs.admin.jobs, "reads_across_states", lambda alias: True)
    split_of = djobs.admin.jobs.split_of
    assert split_of({"queue": "emails"}, "default") == "states"
    assert split_of({"queue": "emails", "path": "a.b"}, "default") == "states"
    assert split_of({"state__exact": "discarded"}, "default") == "queues"
    assert (
        split_of({"state__exact": "available"}, "default") == ""
    )  # its partial index holds only the backlog
    assert split_of({"queue": "emails", "state__exact": "discarded"}, "default") == ""  # one range already
    assert split_of({"queue": "emails", "batch": "b"}, "default") == ""  # the batch index, in id order
    assert split_of({}, "default") == ""
    monkeypatch.setattr(djobs.admin.jobs, "reads_across_states", lambda alias: False)
    assert split_of({"queue": "emails"}, "default") == ""


def test_the_queues_of_finished_jobs_are_found_one_lookup_each(queue_of_every_state: list[Job]) -> None:
    JobFactory(queue="reports", state=S.AVAILABLE)  # not finished: not listed
    assert job_queues_finished(connection.alias) == ["default", "emails"]


def test_ids_read_queue_by_queue_are_the_lists_ids(queue_of_every_state: list[Job]) -> None:
    JobFactory(queue="reports", state=S.DISCARDED, finished_at=timezone.now())
    discarded = Job.objects.filter(state=S.DISCARDED)
    newest = list(discarded.order_by("-id").values_list("id", flat=True))
    assert len(newest) == 7
    assert job_ids_across_queues(discarded, descending=True, offset=0, limit=4) == newest[:4]
    assert job_ids_across_queues(discarded, descending=True, offset=4, limit=50) == newest[4:]
    assert job_ids_across_queues(discarded, descending=False, offset=2, limit=3) == sorted(newest)[2:5]


def test_a_finished_state_is_listed_queue_by_queue(
    client_: Client, queue_of_every_state: list[Job], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(djobs.admin.jobs, "reads_across_states", lambda alias: True)
    monkeypatch.setattr(djobs.admin.jobs.JobAdmin, "list_per_page", 4)
    completed = list(Job.objects.filter(state=S.COMPLETED).order_by("-id").values_list("id", flat=True))
    listed = []
    for page in (1, 2):
        cl = client_.get(reverse(CHANGELIST), {"state__exact": "completed", "p": page}).context["cl"]
        assert (cl.paginator.split, cl.result_count) == ("queues", 6)
        listed.append([job.pk for job in cl.result_list])
    assert listed == [completed[:4], completed[4:]]


def test_deleting_across_a_queue_asks_first_with_the_count_read_state_by_state(
    client_: Client, queue_of_every_state: list[Job], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(djobs.admin.jobs, "reads_across_states", lambda alias: True)
    post = {"action": "delete_jobs", "select_across": "1", "index": "0", "_selected_action": [1]}
    with CaptureQueriesContext(connection) as captured:
        response = client_.post(reverse(CHANGELIST) + "?queue=emails", post)
    # Every state but executing: 7 states x 3 jobs.
    assert "Delete 21 jobs?" in response.content.decode()
    assert any("UNION ALL" in q["sql"] and "COUNT" in q["sql"] for q in captured.captured_queries)


def test_a_state_or_a_batch_beside_the_queue_reads_the_plain_list(
    client_: Client, queue_of_every_state: list[Job], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(djobs.admin.jobs, "reads_across_states", lambda alias: True)
    with_state = client_.get(reverse(CHANGELIST), {"queue": "emails", "state__exact": "completed"})
    assert with_state.context["cl"].paginator.split == ""
    assert [job.state for job in with_state.context["cl"].result_list] == [S.COMPLETED] * 3
    batch = str(__import__("uuid").uuid4())
    with_batch = client_.get(reverse(CHANGELIST), {"queue": "emails", "batch": batch})
    assert with_batch.context["cl"].paginator.split == ""
    assert client_.get(reverse(CHANGELIST)).context["cl"].paginator.split == ""


@pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN shapes are PostgreSQL's")
def test_a_queue_without_a_state_is_read_from_each_states_index_never_the_table(
    queue_of_every_state: list[Job],
) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE djobs_job")
        # Costs as on a big table: a branch no index can serve still plans a Seq Scan.
        cursor.execute("SET LOCAL enable_seqscan = off")
    emails = Job.objects.filter(queue="emails")
    with CaptureQueriesContext(connection) as captured:
        job_ids_across_states(emails, descending=True, offset=0, limit=50)
        job_count_across_states(emails, cap=10_001)
    assert len(captured.captured_queries) == 2
    assert _plans_scanning_the_table(captured.captured_queries) == []
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + captured.captured_queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # Each finished state is a range of (queue, state, id) (read backward, newest first, on a
    # big table; this one is small enough for a bitmap and a sort).
    assert plan.count("djobs_job_finished_queue") == 3, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN shapes are PostgreSQL's")
def test_a_finished_state_without_a_queue_is_read_from_each_queues_range(
    queue_of_every_state: list[Job],
) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE djobs_job")
        cursor.execute("SET LOCAL enable_seqscan = off")
    with CaptureQueriesContext(connection) as captured:
        job_ids_across_queues(Job.objects.filter(state=S.CANCELLED), descending=True, offset=0, limit=50)
    assert len(captured.captured_queries) == 2  # the queues, then their jobs
    assert _plans_scanning_the_table(captured.captured_queries) == []
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            cursor.execute("EXPLAIN " + query["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    # The skip scan: one lookup of the finished jobs' index per queue.
    assert "Index Only Scan using djobs_job_finished_queue" in plans[0], plans[0]
    assert plans[1].count("djobs_job_finished_queue") == 2, plans[1]  # default, emails
