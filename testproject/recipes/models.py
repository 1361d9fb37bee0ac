"""Tables of seed 003's recipes: invoices to process and payments to charge once."""

from __future__ import annotations

from django.db import models


class Invoice(models.Model):
    number = models.CharField(max_length=32, unique=True)
    customer_email = models.EmailField()
    amount_cents = models.PositiveIntegerField()
    pdf_name = models.CharField(max_length=255, blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.number


class Payment(models.Model):
    """A charge to make exactly once, whatever the retries (seed 003's idempotency)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        COMPLETED = "completed"
        FAILED = "failed"

    amount_cents = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    gateway_ref = models.CharField(max_length=64, blank=True, default="")
    failure = models.CharField(max_length=255, blank=True, default="")

    def __str__(self) -> str:
        return f"payment {self.pk} ({self.status})"
