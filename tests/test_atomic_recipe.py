"""Seed 003's payments the atomic way (docs/recipes/invoices-and-payments.md): booked once, no key."""

from __future__ import annotations

import pytest

from djobs.models import Job
from djobs.worker.runner import run_burst
from testproject.recipes import jobs as recipes
from testproject.recipes.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)


def emails() -> list[str]:
    return list(Job.objects.filter(path=recipes.send_email.path).values_list("args", flat=True))


def test_a_confirmed_charge_is_booked_with_its_receipt_in_one_commit() -> None:
    payment = Payment.objects.create(amount_cents=5_00)
    job = recipes.book_payment.enqueue(payment.pk, "ch_1")
    run_burst({"payments": 1})
    job.refresh_from_db()
    payment.refresh_from_db()
    assert (job.state, payment.status, payment.gateway_ref) == ("completed", "completed", "ch_1")
    assert emails() == [["billing@example.com", f"Payment {payment.pk} received", "ch_1"]]


def test_a_failure_after_the_booking_keeps_neither_and_the_retry_books_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payment = Payment.objects.create(amount_cents=5_00)
    job = recipes.book_payment.enqueue(payment.pk, "ch_2")
    real_enqueue = recipes.send_email.enqueue
    calls = []

    def enqueue_then_crash(*args: object) -> object:
        enqueued = real_enqueue(*args)  # the receipt is written, then the attempt fails
        calls.append(args)
        if len(calls) == 1:
            raise ConnectionError("the worker lost its footing after booking")
        return enqueued

    monkeypatch.setattr(recipes.send_email, "enqueue", enqueue_then_crash)
    run_burst({"payments": 1})
    job.refresh_from_db()
    payment.refresh_from_db()
    assert (job.state, payment.status, emails()) == ("retryable", "pending", [])
    Job.objects.filter(pk=job.pk).update(state="available")  # the retry, without its backoff
    run_burst({"payments": 1})
    job.refresh_from_db()
    payment.refresh_from_db()
    assert (job.state, job.attempt, payment.status) == ("completed", 2, "completed")
    assert len(emails()) == 1
