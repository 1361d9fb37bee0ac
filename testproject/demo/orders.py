"""Seed 004's order confirmations, the djobs way.

- Enqueue-then-process: a periodic job finds the work and bulk-enqueues one
  small job per order; each small job is quick and fails alone.
- Atomicity and fragility: sending the email and recording it are two jobs,
  so a failure of one is retried without redoing the other.
- Time limit: every job here must finish in 25 s (a platform that gives 30 s
  to shut down, as Heroku does), enforced with ``timeout=25``.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from djobs import job

from .models import DeliveredEmail, Order

CHUNK = 1000
# Orders updated in the last 6 hours may still be mid-flight through the two
# sub-jobs; leave them to the jobs already enqueued for them.
SETTLE = timedelta(hours=6)


@job(queue="default", timeout=25)
def enqueue_order_confirmations() -> int:
    """Enqueue mode: one notify + one mark job per confirmed, unnotified order."""
    ids = list(
        Order.objects.filter(
            status=Order.Status.CONFIRMED,
            notified_at__isnull=True,
            updated_at__lte=timezone.now() - SETTLE,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), CHUNK):
        chunk = [(pk,) for pk in ids[start : start + CHUNK]]
        # The two sub-jobs of each order go in together, or not at all.
        with transaction.atomic():
            notify_order.enqueue_many(chunk)
            mark_order_notified.enqueue_many(chunk)
    return len(ids)


@job(queue="emails", timeout=25, max_attempts=10, unique={"keys": ["order_id"]})
def notify_order(order_id: int) -> None:
    """Process mode, part 1: the fragile call to the outside world."""
    order = Order.objects.select_related("customer").get(pk=order_id)
    send_mail("Your order is confirmed", f"Order {order.pk}", None, [order.customer.email])
    DeliveredEmail.objects.create(to=order.customer.email, subject="Your order is confirmed")


@job(queue="default", timeout=25, unique={"keys": ["order_id"]})
def mark_order_notified(order_id: int) -> None:
    """Process mode, part 2: the local, reliable write. Idempotent: a rerun changes nothing."""
    Order.objects.filter(pk=order_id, notified_at__isnull=True).update(notified_at=timezone.now())
