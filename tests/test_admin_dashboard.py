"""The dashboard page: panels, permissions, the index link and its JSON twin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from djobs.admin.dashboard import queries
from djobs.db import get_ops
from djobs.models import Job
from tests.factories import JobFactory, PeriodicScheduleFactory, WorkerProcessFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def estimates() -> bool:
    return get_ops().supports_row_estimates


S = Job.State
DASHBOARD = "admin:djobs_dashboard"


@pytest.fixture
def client_(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_counts_are_per_queue_and_state() -> None:
    JobFactory.create_batch(2, queue="emails", state=S.AVAILABLE)
    JobFactory(queue="default", state=S.DISCARDED, finished_at=timezone.now())
    grid = queries.counts()
    assert grid.cell("emails", S.AVAILABLE).value == 2
    assert grid.cell("default", S.DISCARDED).value == 1
    assert grid.cell("default", S.AVAILABLE).value == 0
    assert grid.total(S.AVAILABLE).value == 2
    assert not grid.total(S.AVAILABLE).estimated


def test_queue_lag_is_the_age_of_the_oldest_available_job() -> None:
    now = timezone.now()
    JobFactory(queue="emails", state=S.AVAILABLE, scheduled_at=now - timedelta(seconds=90))
    JobFactory(queue="emails", state=S.AVAILABLE, scheduled_at=now - timedelta(seconds=5), priority=0)
    lag = queries.queue_lag({"emails": 2, "default": 0}, now)
    assert lag["emails"] == pytest.approx(90, abs=1)
    assert lag["default"] is None


def test_throughput_counts_completed_and_failed_per_minute_over_the_last_hour() -> None:
    now = timezone.now()
    JobFactory.create_batch(3, state=S.COMPLETED, finished_at=now - timedelta(minutes=2))
    JobFactory(state=S.DISCARDED, finished_at=now - timedelta(minutes=2))
    JobFactory(state=S.CANCELLED, finished_at=now)
    JobFactory(state=S.COMPLETED, finished_at=now - timedelta(hours=2))
    buckets = queries.throughput(now)
    assert len(buckets) == 60
    assert sum(b["completed"] for b in buckets) == 3
    assert sum(b["failed"] for b in buckets) == 2
    assert buckets[-1]["failed"] == 1


def test_recent_failures_show_the_error_line() -> None:
    errors = [{"attempt": 1, "at": "", "error": "KeyError: 'sku'\nmore", "traceback": "tb"}]
    JobFactory(state=S.DISCARDED, finished_at=timezone.now(), errors=errors)
    JobFactory(state=S.COMPLETED, finished_at=timezone.now())
    failures = queries.recent_failures()
    assert [(f["state"], f["error"]) for f in failures] == [(S.DISCARDED, "KeyError: 'sku'")]


def test_workers_show_heartbeat_age_and_whether_they_are_alive() -> None:
    WorkerProcessFactory(id="fresh", queues={"default": 10})
    WorkerProcessFactory(id="stale", heartbeat_at=timezone.now() - timedelta(hours=1))
    rows = {w["id"]: w for w in queries.workers(timezone.now())}
    assert rows["fresh"]["alive"] and not rows["stale"]["alive"]
    assert rows["stale"]["heartbeat_age"] > 3000


def test_dashboard_page_shows_every_panel_escaped(client_: Client) -> None:
    evil = "<script>alert(1)</script>"
    JobFactory(state=S.DISCARDED, finished_at=timezone.now(),
               errors=[{"attempt": 1, "at": "", "error": evil, "traceback": evil}])  # fmt: skip
    WorkerProcessFactory(id="worker-a", queues={"emails": 5})
    PeriodicScheduleFactory(name="nightly", next_run_at=timezone.now() + timedelta(hours=1))
    page = client_.get(reverse(DASHBOARD)).content.decode()
    for panel in ("djobs-counts", "djobs-throughput", "djobs-failures", "djobs-workers", "djobs-periodic"):
        assert f'id="{panel}"' in page
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "worker-a" in page and "emails=5" in page and "nightly" in page
    assert "djobs/dashboard.js" in page  # served from the app's static files
    assert "http://" not in page.split("<body")[0].replace("http://www.w3.org", "")


def test_dashboard_fragment_and_json_refresh_the_same_figures(client_: Client) -> None:
    JobFactory.create_batch(2, queue="emails", state=S.AVAILABLE)
    fragment = client_.get(reverse(DASHBOARD), {"partial": "1"}).content.decode()
    assert "<html" not in fragment and 'id="djobs-counts"' in fragment
    data = client_.get(reverse("admin:djobs_dashboard_data")).json()
    assert data["counts"]["emails"]["available"] == {"value": 2, "estimated": False}
    assert len(data["throughput"]) == 60


def test_dashboard_is_linked_from_the_admin_index(client_: Client) -> None:
    page = client_.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse(DASHBOARD)}"' in page


def test_dashboard_needs_staff_with_job_permission() -> None:
    anonymous = Client()
    assert anonymous.get(reverse(DASHBOARD)).status_code == 302
    user = User.objects.create_user("s", password="pw", is_staff=True)
    staff = Client()
    staff.force_login(user)
    assert staff.get(reverse(DASHBOARD)).status_code == 403
    assert staff.get(reverse("admin:djobs_dashboard_data")).status_code == 403
    assert reverse(DASHBOARD) not in staff.get(reverse("admin:index")).content.decode()
    user.user_permissions.add(Permission.objects.get(codename="view_job"))
    assert staff.get(reverse(DASHBOARD)).status_code == 200


def test_install_dashboard_serves_a_custom_admin_site() -> None:
    from django.contrib.admin import AdminSite

    from djobs.admin import JobAdmin, install_dashboard

    site = AdminSite(name="ops")
    site.register(Job, JobAdmin)
    install_dashboard(site)
    names = {getattr(p, "name", None) for p in site.get_urls()}
    assert {"djobs_dashboard", "djobs_dashboard_data"} <= names


def test_queue_lag_of_a_long_backlog_probes_each_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    now = timezone.now()
    JobFactory(queue="emails", priority=7, scheduled_at=now - timedelta(seconds=300))
    JobFactory.create_batch(3, queue="emails", priority=0, scheduled_at=now - timedelta(seconds=10))
    monkeypatch.setattr(queries, "EXACT_UP_TO", 1)
    assert queries.queue_lag({"emails": 4}, now)["emails"] == pytest.approx(300, abs=1)


def test_counts_of_big_states_are_estimates_where_the_database_has_them(
    monkeypatch: pytest.MonkeyPatch, estimates: bool
) -> None:
    from django.db import connection

    JobFactory.create_batch(4, queue="emails", state=S.COMPLETED, finished_at=timezone.now())
    JobFactory(queue="emails", state=S.AVAILABLE)
    if connection.vendor == "postgresql":  # MySQL's ANALYZE TABLE would commit the test's transaction
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE djobs_job")
    monkeypatch.setattr(queries, "EXACT_UP_TO", 2)
    grid = queries.counts()
    completed = grid.cell("emails", S.COMPLETED)
    assert completed.estimated is estimates
    assert completed.value >= 1 if estimates else completed.value == 4
    assert grid.cell("emails", S.AVAILABLE) == queries.Cell(1)


def test_a_busy_hour_is_charted_from_estimates_where_the_database_has_them(
    monkeypatch: pytest.MonkeyPatch, estimates: bool
) -> None:
    JobFactory.create_batch(3, state=S.COMPLETED, finished_at=timezone.now())
    monkeypatch.setattr(queries, "THROUGHPUT_EXACT_UP_TO", 0)
    buckets = queries.throughput(timezone.now())
    assert len(buckets) == 60
    assert all(b["estimated"] is estimates for b in buckets)
    if not estimates:
        assert sum(b["completed"] for b in buckets) == 3
