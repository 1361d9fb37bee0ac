"""Tables the demo's jobs work on, shaped after the seeds' recipes."""

from __future__ import annotations

from django.db import models


class Customer(models.Model):
    email = models.EmailField(unique=True)
    timezone = models.CharField(max_length=64, blank=True, default="")
    welcomed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.email


class DeliveredEmail(models.Model):
    """One row per email sent, so the demo shows what its jobs did."""

    to = models.EmailField()
    subject = models.CharField(max_length=255)
    sent_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.subject} -> {self.to}"


class Order(models.Model):
    """Seed 004's orders: confirmed ones get a confirmation email, once."""

    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    notified_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"
