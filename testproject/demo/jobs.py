"""The demo's jobs: the seeds' kinds of work, run by ``manage.py runjobs``."""

from __future__ import annotations

import random

from djobs import Cancel, Snooze, job
from djobs.context import JobContext

from .models import Customer, DeliveredEmail


@job(queue="emails", max_attempts=5)
def send_welcome(customer_id: int) -> str:
    """Send the welcome email once; a retry after a crash does not send it twice."""
    customer = Customer.objects.get(pk=customer_id)
    if customer.welcomed_at is None:
        DeliveredEmail.objects.create(to=customer.email, subject="Welcome!")
        Customer.objects.filter(pk=customer_id).update(welcomed_at=_now())
    return customer.email


@job(queue="default", max_attempts=3, takes_context=True)
def flaky(context: JobContext, n: int) -> int:
    """Fail a third of the time, to show retries, backoff and discards in the admin."""
    if random.random() < 0.33:
        # The message must be true on the last attempt too: then nothing retries it.
        what_next = "no attempts left: discarded" if context.is_last_attempt else "it will be retried"
        raise RuntimeError(
            f"flaky job {n} failed on attempt {context.attempt} of {context.max_attempts}; {what_next}"
        )
    return n * n


@job(queue="default")
def import_succeeded(batch_id: str, counts: dict[str, int]) -> str:
    """A batch's on_success callback: every job of the import completed."""
    return f"import {batch_id}: all {counts['completed']} rows imported"


@job(queue="default")
def import_failed(batch_id: str, counts: dict[str, int]) -> str:
    """A batch's on_discard callback: run once, at the import's first discarded or cancelled job."""
    return f"import {batch_id}: a row failed for good ({counts})"


def _now():  # type: ignore[no-untyped-def]
    from django.utils import timezone

    return timezone.now()


@job(queue="default")
def resize_image(n: int) -> dict[str, int]:
    """A CPU-and-IO-ish job that takes a moment, to fill the dashboard's running column."""
    import time

    time.sleep(random.uniform(0.2, 1.5))
    return {"image": n, "width": 640, "height": 480}


@job(queue="default", takes_context=True)
def wait_for_stock(context: JobContext, sku: str) -> str:
    """Snooze until the stock arrives: snoozing does not use up attempts."""
    if random.random() < 0.5:
        raise Snooze(5)
    return f"{sku} in stock (after {context.attempt} attempt(s))"


@job(queue="payments", max_attempts=5)
def charge(order_ref: str, amount_cents: int) -> str:
    """Refuse impossible amounts for good instead of retrying them."""
    if amount_cents <= 0:
        raise Cancel(f"amount {amount_cents} is not chargeable")
    return f"charged {order_ref}"


@job(queue="backfill", max_attempts=2)
def backfill_row(row: int) -> int:
    """Cheap bulk work on a queue with one thread."""
    return row * 2
