"""The demo's jobs: the seeds' kinds of work, run by ``manage.py runjobs``."""

from __future__ import annotations

import random

from djobs import job

from .models import Customer, DeliveredEmail


@job(queue="emails", max_attempts=5)
def send_welcome(customer_id: int) -> str:
    """Send the welcome email once; a retry after a crash does not send it twice."""
    customer = Customer.objects.get(pk=customer_id)
    if customer.welcomed_at is None:
        DeliveredEmail.objects.create(to=customer.email, subject="Welcome!")
        Customer.objects.filter(pk=customer_id).update(welcomed_at=_now())
    return customer.email


@job(queue="default", max_attempts=3)
def flaky(n: int) -> int:
    """Fail a third of the time, to show retries and backoff in the admin."""
    if random.random() < 0.33:
        raise RuntimeError(f"flaky job {n} failed; it will be retried")
    return n * n


def _now():  # type: ignore[no-untyped-def]
    from django.utils import timezone

    return timezone.now()
