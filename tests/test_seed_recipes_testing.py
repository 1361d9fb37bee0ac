"""Seed 003's invoice, email and payment workers and seed 000's backfill (recursive and each), tested
with djobs.testing as the testing guide shows (Oban.Testing's perform_job/assert_enqueued)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import override_settings

from djobs import Cancel
from djobs.testing import (
    assert_enqueued,
    drain_queue,
    interrupt_job,
    perform_job,
    refute_enqueued,
    testing_mode,
)
from testproject.demo.models import Customer
from testproject.recipes import gateway
from testproject.recipes import jobs as recipe_jobs
from testproject.recipes.jobs import (
    BACKFILL_DELAY,
    backfill_timezones,
    process_invoice,
    process_payment,
    send_email,
    update_timezone,
)
from testproject.recipes.models import Invoice, Payment
from tests.testing_fixtures import either_database  # noqa: F401

pytestmark = pytest.mark.usefixtures("either_database")


class DownBackend(BaseEmailBackend):
    """An email backend whose server is unreachable."""

    def send_messages(self, email_messages: Any) -> int:
        raise ConnectionError("SMTP server unreachable")


@pytest.fixture(autouse=True)
def fresh_gateway() -> Iterator[None]:
    gateway.reset()
    yield
    gateway.reset()


def invoice(number: str = "2026-001") -> Invoice:
    return Invoice.objects.create(number=number, customer_email="ada@example.com", amount_cents=12_50)


# -- seed 003: the email worker -------------------------------------------------


def test_email_worker_sends_the_email() -> None:
    result = perform_job(send_email, kwargs={"to": "user@example.com", "subject": "Test", "body": "Hello"})
    assert result.completed and result.value == "user@example.com"
    [sent] = mail.outbox
    assert (sent.to, sent.subject, sent.body) == (["user@example.com"], "Test", "Hello")


def test_email_worker_retries_when_the_mail_server_is_down() -> None:
    backend = f"{__name__}.DownBackend"
    # Django 6.1 configures mail with MAILERS; earlier versions with EMAIL_BACKEND.
    mail_settings = (
        {"MAILERS": {"default": {"BACKEND": backend}}}
        if django.VERSION >= (6, 1)
        else {"EMAIL_BACKEND": backend}
    )
    with override_settings(**mail_settings):
        result = perform_job(send_email, kwargs={"to": "user@example.com", "subject": "T", "body": "B"})
        assert result.retryable and result.error == "ConnectionError: SMTP server unreachable"
        # On its last attempt the same failure discards the job.
        assert perform_job(send_email, ["user@example.com", "T", "B"], attempt=3).discarded


def test_email_worker_cancels_an_unusable_address_instead_of_retrying() -> None:
    result = perform_job(send_email, kwargs={"to": "invalid", "subject": "Test", "body": "Hello"})
    assert result.cancelled and isinstance(result.outcome, Cancel)
    assert result.error == "Cancelled: invalid address 'invalid'"
    assert mail.outbox == []


# -- seed 003: the invoice processor ----------------------------------------------


def test_processing_an_invoice_enqueues_its_email() -> None:
    bill = invoice()
    process_invoice.enqueue(bill.pk)
    assert_enqueued(job=process_invoice, kwargs={"invoice_id": bill.pk}, queue="default")

    assert drain_queue("default") == {"completed": 1}
    bill.refresh_from_db()
    assert bill.pdf_name == "invoice-2026-001.pdf" and bill.sent_at is not None
    assert_enqueued(job=send_email, kwargs={"to": "ada@example.com"}, queue="emails", priority=1)

    assert drain_queue("emails") == {"completed": 1}
    assert [m.subject for m in mail.outbox] == ["Invoice 2026-001"]


def test_processing_an_invoice_twice_sends_one_email() -> None:
    bill = invoice()
    assert perform_job(process_invoice, [bill.pk]).value == "invoice-2026-001.pdf"
    assert perform_job(process_invoice, [bill.pk]).value == "already sent"
    assert_enqueued(job=send_email, kwargs={"to": "ada@example.com"}, count=1)


def test_inline_mode_runs_the_invoice_and_its_email_at_enqueue() -> None:
    bill = invoice()
    with testing_mode("inline"):
        job = process_invoice.enqueue(bill.pk)
    assert job.state == "completed"
    assert [m.subject for m in mail.outbox] == ["Invoice 2026-001"]
    refute_enqueued(job=send_email)


def test_a_missing_invoice_is_a_failed_attempt() -> None:
    result = perform_job(process_invoice, [999_999])
    assert result.retryable and result.error == "DoesNotExist: Invoice matching query does not exist."


# -- seed 003: the idempotent payment processor ------------------------------------


def test_a_pending_payment_is_charged_once() -> None:
    payment = Payment.objects.create(amount_cents=5_00)
    assert perform_job(process_payment, [payment.pk]).value == f"ch_{payment.pk}_500"
    assert perform_job(process_payment, [payment.pk]).value == "already completed"
    payment.refresh_from_db()
    assert payment.status == "completed" and list(gateway.CHARGES) == [payment.pk]


def test_a_payment_another_attempt_is_processing_is_snoozed() -> None:
    payment = Payment.objects.create(amount_cents=5_00, status=Payment.Status.PROCESSING)
    result = perform_job(process_payment, [payment.pk])
    assert result.snoozed and result.outcome.seconds == 5  # type: ignore[union-attr]
    assert gateway.CHARGES == {}


def test_a_gateway_error_fails_the_attempt_and_the_retry_charges() -> None:
    payment = Payment.objects.create(amount_cents=7_00)
    gateway.FAILURES.append(gateway.GatewayError("gateway timeout"))
    process_payment.enqueue(payment.pk)
    assert drain_queue("payments") == {"retryable": 1}
    payment.refresh_from_db()
    assert (payment.status, payment.failure) == ("failed", "gateway timeout")
    # The retry waits for its backoff; with_scheduled runs it now.
    retry = assert_enqueued(job=process_payment, args=[payment.pk], state="retryable")
    assert drain_queue("payments") == {}
    assert drain_queue("payments", with_scheduled=True) == {"completed": 1}
    retry.refresh_from_db()
    assert (retry.state, retry.attempt) == ("completed", 2)
    payment.refresh_from_db()
    assert payment.status == "completed" and list(gateway.CHARGES) == [payment.pk]


def test_a_charge_the_gateway_already_holds_is_an_idempotent_success() -> None:
    payment = Payment.objects.create(amount_cents=9_00)
    gateway.CHARGES[payment.pk] = "ch_earlier"
    assert perform_job(process_payment, [payment.pk]).value == "ch_earlier"
    payment.refresh_from_db()
    assert (payment.status, payment.gateway_ref) == ("completed", "ch_earlier")


# -- seed 000: the recursive backfill ------------------------------------------------


def customers(*emails: str) -> list[Customer]:
    return [Customer.objects.create(email=email) for email in emails]


def test_one_backfill_step_updates_a_customer_and_enqueues_the_next() -> None:
    first, second, _third = customers("a@example.fr", "b@example.com", "c@example.com")
    result = perform_job(update_timezone, [first.pk], {"backfill": True})
    assert result.value == "Europe/Paris"
    assert_enqueued(
        job=update_timezone,
        kwargs={"customer_id": second.pk, "backfill": True},
        scheduled_in=BACKFILL_DELAY,
        queue="backfill",
    )


def test_a_plain_update_does_not_recurse() -> None:
    [only, _other] = customers("a@example.com", "b@example.com")
    perform_job(update_timezone, [only.pk])
    refute_enqueued(job=update_timezone)


def test_the_backfill_walks_every_customer_missing_a_time_zone() -> None:
    first, *_rest = customers("a@example.fr", "b@example.com", "c@example.fr", "d@example.com")
    Customer.objects.create(email="done@example.com", timezone="Asia/Tokyo")
    update_timezone.enqueue(first.pk, backfill=True)

    # Each next step is scheduled a second later: a plain drain runs only the first.
    assert drain_queue("backfill") == {"completed": 1}
    assert drain_queue("backfill", with_scheduled=True) == {"completed": 3}
    refute_enqueued(job=update_timezone)
    assert dict(Customer.objects.values_list("email", "timezone")) == {
        "a@example.fr": "Europe/Paris",
        "b@example.com": "UTC",
        "c@example.fr": "Europe/Paris",
        "d@example.com": "UTC",
        "done@example.com": "Asia/Tokyo",
    }


def test_the_each_backfill_updates_every_customer_missing_a_time_zone_in_one_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recipe_jobs, "BACKFILL_DELAY", 0)
    customers("a@example.fr", "b@example.com", "c@example.fr")
    Customer.objects.create(email="done@example.com", timezone="Asia/Tokyo")
    backfill_timezones.enqueue()
    assert drain_queue("backfill") == {"completed": 1}
    assert dict(Customer.objects.values_list("email", "timezone")) == {
        "a@example.fr": "Europe/Paris",
        "b@example.com": "UTC",
        "c@example.fr": "Europe/Paris",
        "done@example.com": "Asia/Tokyo",
    }


def test_the_each_backfill_interrupted_by_a_deploy_resumes_after_the_last_customer_it_updated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recipe_jobs, "BACKFILL_DELAY", 0)
    first, second, third, fourth = customers("a@example.fr", "b@example.com", "c@example.fr", "d@x.com")
    looked_up: list[str] = []
    real_lookup = recipe_jobs.lookup_timezone
    monkeypatch.setattr(recipe_jobs, "lookup_timezone", lambda c: looked_up.append(c.email) or real_lookup(c))
    job = backfill_timezones.enqueue()
    with interrupt_job(after_items=2, each="customers"):
        assert drain_queue("backfill", with_recursion=False) == {"interrupted": 1}
    assert list(Customer.objects.filter(timezone="").order_by("pk")) == [third, fourth]
    assert drain_queue("backfill") == {"completed": 1}
    job.refresh_from_db()
    assert (job.attempt, job.result) == (1, 2)  # the interruption used up no attempt
    assert looked_up == [c.email for c in (first, second, third, fourth)]  # each customer once
