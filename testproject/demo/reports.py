"""Seed 001's recurring work as periodic jobs: a daily report, and a cleanup every ten minutes.

The seed's Phoenix app keeps a GenServer per recurring job that reschedules
itself with ``Process.send_after``; here each job is an ordinary ``@job`` and
the timing lives in ``DJOBS["PERIODIC"]`` (``PERIODIC`` below). Every
``runjobs`` process runs the scheduler, and each tick is enqueued once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from djobs import job
from djobs.context import JobContext

from .models import DeliveredEmail, Order

REPORT_TO = "ops@example.com"

PERIODIC: dict[str, dict[str, Any]] = {
    # "Send a daily report": every day at 09:00, Paris time, summer and winter.
    "daily-report": {
        "cron": "0 9 * * *",
        "timezone": "Europe/Paris",
        "job": "testproject.demo.reports.daily_report",
    },
    # The seed's DemoJob with `@job_interval 600`: every ten minutes.
    "purge-sessions": {
        "cron": "*/10 * * * *",
        "job": "testproject.demo.reports.purge_expired_sessions",
    },
}


@job(takes_context=True, max_attempts=5)
def daily_report(context: JobContext) -> str:
    """Email the count of orders confirmed in the day before the tick; a retry sends nothing twice."""
    # The tick, not the clock: a run delayed by downtime or retries reports the
    # day it was due for, and the subject names that day so it is sent once.
    tick = context.meta.get("tick")
    until = datetime.fromisoformat(tick) if tick else timezone.localtime()
    subject = f"Daily report {until.date().isoformat()}"
    if DeliveredEmail.objects.filter(to=REPORT_TO, subject__startswith=subject).exists():
        return "already sent"
    confirmed = Order.objects.filter(
        status=Order.Status.CONFIRMED, updated_at__gte=until - timedelta(days=1), updated_at__lt=until
    ).count()
    DeliveredEmail.objects.create(to=REPORT_TO, subject=f"{subject}: {confirmed} orders confirmed")
    return subject


@job
def purge_expired_sessions() -> int:
    """Delete expired sessions (the seed's "purge unused resources"); safe to run twice."""
    from django.contrib.sessions.models import Session

    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
