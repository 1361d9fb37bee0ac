"""Seed 003's workers (invoice processor, email worker, payment processor) and seed 000's
backfill (recursive, and as one resumable ``ctx.each``), as djobs jobs. Their tests,
written with djobs.testing, are in tests/test_seed_recipes_testing.py and the testing guide
(docs/guide/testing.md)."""

from __future__ import annotations

import time

from django.core import mail
from django.db import transaction
from django.utils import timezone

from djobs import Cancel, Snooze, job
from djobs.context import JobContext
from testproject.demo.models import Customer

from . import gateway
from .models import Invoice, Payment

# --8<-- [start:delay]
BACKFILL_DELAY = 1  # seconds between two steps: the external service's rate limit
# --8<-- [end:delay]


class InvalidAddress(ValueError):
    """The address cannot receive mail; retrying will not help."""


# --8<-- [start:email]
@job(queue="emails", max_attempts=3, priority=1)
def send_email(to: str, subject: str, body: str) -> str:
    """Send one email; an unusable address cancels the job, a transport error retries it."""
    if "@" not in to:
        raise Cancel(f"invalid address {to!r}")
    sent = mail.send_mail(subject, body, "billing@example.com", [to])
    if not sent:
        raise ConnectionError(f"the mail backend did not send to {to!r}")
    return to
# --8<-- [end:email]


# --8<-- [start:invoice]
@job(queue="default", max_attempts=5)
def process_invoice(invoice_id: int) -> str:
    """Render the invoice's PDF and have it emailed, once, however many times this runs."""
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.sent_at is not None:
        return "already sent"
    pdf_name = f"invoice-{invoice.number}.pdf"
    with transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(pdf_name=pdf_name, sent_at=timezone.now())
        # Enqueued in the same transaction: the email exists only if the invoice is marked sent.
        send_email.enqueue(
            invoice.customer_email,
            f"Invoice {invoice.number}",
            f"Your invoice for {invoice.amount_cents / 100:.2f} is attached ({pdf_name}).",
        )
    return pdf_name
# --8<-- [end:invoice]


# --8<-- [start:payment]
@job(queue="payments", max_attempts=3)
def process_payment(payment_id: int) -> str:
    """Charge a payment exactly once: completed is success, processing elsewhere snoozes."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status == Payment.Status.COMPLETED:
        return "already completed"
    if payment.status == Payment.Status.PROCESSING:
        raise Snooze(5)  # another attempt holds it; look again shortly
    claimed = Payment.objects.filter(pk=payment_id, status__in=["pending", "failed"]).update(
        status=Payment.Status.PROCESSING
    )
    if not claimed:
        raise Snooze(5)
    try:
        ref = gateway.charge(payment.pk, payment.amount_cents)
    except gateway.AlreadyCharged:
        ref = gateway.CHARGES[payment.pk]  # the gateway has it: an idempotent success
    except gateway.GatewayError as exc:
        Payment.objects.filter(pk=payment_id).update(status=Payment.Status.FAILED, failure=str(exc))
        raise  # a failed attempt: retried with backoff
    Payment.objects.filter(pk=payment_id).update(status=Payment.Status.COMPLETED, gateway_ref=ref)
    return ref
# --8<-- [end:payment]


# --8<-- [start:payment_atomic]
@job(queue="payments", max_attempts=3, atomic=True)
def book_payment(payment_id: int, gateway_ref: str) -> str:
    """Book a charge the gateway confirmed, and email the receipt: once, with no idempotency check."""
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    payment.status = Payment.Status.COMPLETED
    payment.gateway_ref = gateway_ref
    payment.save(update_fields=["status", "gateway_ref"])
    # Exists only if this attempt commits, like the booking: a retry never finds a half.
    send_email.enqueue("billing@example.com", f"Payment {payment_id} received", gateway_ref)
    return gateway_ref
# --8<-- [end:payment_atomic]


# --8<-- [start:backfill]
def lookup_timezone(customer: Customer) -> str:
    """Stand-in for the rate-limited external service of seed 000."""
    return "Europe/Paris" if customer.email.endswith(".fr") else "UTC"


@job(queue="backfill", max_attempts=5)
def update_timezone(customer_id: int, backfill: bool = False) -> str:
    """Set one customer's time zone; with ``backfill=True`` enqueue the next one that lacks it."""
    customer = Customer.objects.get(pk=customer_id)
    Customer.objects.filter(pk=customer_id).update(timezone=lookup_timezone(customer))
    if backfill:
        next_id = (
            Customer.objects.filter(timezone="", pk__gt=customer_id)
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        if next_id is not None:
            update_timezone.using(schedule_in=BACKFILL_DELAY).enqueue(next_id, backfill=True)
    return lookup_timezone(customer)
# --8<-- [end:backfill]


# --8<-- [start:backfill_each]
@job(queue="backfill", takes_context=True, timeout=None, max_attempts=5)
def backfill_timezones(ctx: JobContext) -> int:
    """Set the time zone of every customer lacking one, in one job that resumes where it stopped."""
    missing = Customer.objects.filter(timezone="").order_by("pk")
    updated = 0
    for customer in ctx.each("customers", missing, checkpoint_every=100):
        Customer.objects.filter(pk=customer.pk).update(timezone=lookup_timezone(customer))
        updated += 1
        time.sleep(BACKFILL_DELAY)  # the service's rate limit; a deploy interrupts after this customer
    return updated
# --8<-- [end:backfill_each]


# --8<-- [start:unique]
@job(unique={"period": 60, "states": ["available", "scheduled", "executing"], "keys": ["customer_id"]})
def sync_customer(customer_id: int, reason: str = "") -> str:
    """Refresh one customer; only one job per customer waits or runs in any minute."""
    customer = Customer.objects.get(pk=customer_id)
    Customer.objects.filter(pk=customer_id).update(timezone=lookup_timezone(customer))
    return customer.email
# --8<-- [end:unique]
