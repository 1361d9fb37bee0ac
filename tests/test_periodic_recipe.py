"""The periodic guide's examples (seed 001's daily report and ten-minute cleanup) run as documented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import override_settings

from djobs.maintenance.scheduler import PeriodicScheduler
from djobs.models import Job
from djobs.periodic.config import validate_periodic
from djobs.worker.executor import execute
from testproject.demo import reports
from testproject.demo.models import Customer, DeliveredEmail, Order

pytestmark = pytest.mark.django_db


def test_the_documented_settings_pass_the_checks() -> None:
    assert validate_periodic(reports.PERIODIC) == []


def run_scheduler(start: datetime, end: datetime, step: timedelta) -> None:
    service = PeriodicScheduler()
    with override_settings(DJOBS={"PERIODIC": reports.PERIODIC}, TIME_ZONE="UTC"):
        now = start
        while now <= end:
            service.run_once(now=now)
            now += step


def test_the_daily_report_and_the_cleanup_tick_as_documented() -> None:
    run_scheduler(
        datetime(2026, 1, 5, 7, 55, tzinfo=UTC), datetime(2026, 1, 5, 9, 0, tzinfo=UTC), timedelta(minutes=5)
    )
    reports_due = Job.objects.filter(meta__periodic="daily-report")
    assert [job.meta["tick"] for job in reports_due] == ["2026-01-05T09:00:00+01:00"]
    cleanups = Job.objects.filter(meta__periodic="purge-sessions").order_by("id")
    assert [job.meta["tick"][11:16] for job in cleanups] == [
        "08:00",
        "08:10",
        "08:20",
        "08:30",
        "08:40",
        "08:50",
        "09:00",
    ]


def test_the_daily_report_covers_the_day_before_its_tick_and_is_sent_once() -> None:
    customer = Customer.objects.create(email="ada@example.com")
    inside, outside = Order.objects.create(customer=customer), Order.objects.create(customer=customer)
    Order.objects.filter(pk=inside.pk).update(
        status="confirmed", updated_at=datetime(2026, 1, 4, 20, tzinfo=UTC)
    )
    Order.objects.filter(pk=outside.pk).update(
        status="confirmed", updated_at=datetime(2026, 1, 2, tzinfo=UTC)
    )
    run_scheduler(
        datetime(2026, 1, 5, 7, 59, tzinfo=UTC), datetime(2026, 1, 5, 8, 0, tzinfo=UTC), timedelta(minutes=1)
    )
    [job] = Job.objects.filter(meta__periodic="daily-report")
    assert execute(job).value == "Daily report 2026-01-05"
    assert execute(job).value == "already sent"  # a retry after a crash does not send it twice
    [email] = DeliveredEmail.objects.all()
    assert (email.to, email.subject) == ("ops@example.com", "Daily report 2026-01-05: 1 orders confirmed")


def test_the_cleanup_deletes_expired_sessions_only() -> None:
    now = datetime.now(UTC)
    Session.objects.create(session_key="old", session_data="", expire_date=now - timedelta(days=1))
    Session.objects.create(session_key="new", session_data="", expire_date=now + timedelta(days=1))
    assert reports.purge_expired_sessions() == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == ["new"]
