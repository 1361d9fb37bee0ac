"""Seed 002's weekly email blast, the djobs way: one batch, one callback, no sleep, no race.

Admins send a weekly update to every subscriber; each email is its own job,
and the admins get one email once every delivery has ended.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from djobs import job
from djobs.batches import BatchHandle, batch, callback

from .models import DeliveredEmail

SUBJECT = "New this week"


@job(queue="emails", max_attempts=5)
def send_weekly_update(email: str, week: str) -> None:
    """Send one subscriber this week's update; a retry after a crash does not send it twice."""
    subject = f"{SUBJECT} ({week})"
    if not DeliveredEmail.objects.filter(to=email, subject=subject).exists():
        DeliveredEmail.objects.create(to=email, subject=subject)


@job(queue="emails")
def notify_admins(batch_id: str, counts: dict[str, int], admin_email: str) -> str:
    """Tell the admins the blast is over: the batch callback, run once."""
    failed = counts["discarded"] + counts["cancelled"]
    summary = f"Weekly update done: {counts['completed']} sent, {failed} failed (batch {batch_id})"
    DeliveredEmail.objects.create(to=admin_email, subject=summary[:255])
    return summary


def start_weekly_update(emails: Iterable[str], admin_email: str = "admins@example.com") -> BatchHandle:
    """Enqueue one email job per subscriber in one batch; the admins hear back when all are done."""
    week = timezone.now().strftime("%G-W%V")
    # All or nothing: the batch and its jobs exist only if this transaction commits.
    with (
        transaction.atomic(),
        batch(on_complete=callback(notify_admins, admin_email), description=f"weekly update {week}") as blast,
    ):
        send_weekly_update.enqueue_many([(email, week) for email in emails])
    return blast
