"""Seed 004's order confirmations: enqueue-then-process, split sub-jobs, time limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from djobs.models import Job
from testproject.demo.models import Customer, DeliveredEmail, Order
from testproject.demo.orders import enqueue_order_confirmations, mark_order_notified, notify_order

pytestmark = pytest.mark.django_db(transaction=True)


def _orders(n: int, *, age: timedelta = timedelta(hours=7)) -> list[Order]:
    orders = []
    for i in range(n):
        customer = Customer.objects.create(email=f"c{i}@example.com")
        orders.append(Order.objects.create(customer=customer, status=Order.Status.CONFIRMED))
    # auto_now sets updated_at; age the rows past the settling window.
    Order.objects.update(updated_at=timezone.now() - age)
    return orders


def _run_workers() -> None:
    call_command("runjobs", "--burst", "--queue", "default=4", "--queue", "emails=4")


def test_enqueue_mode_bulk_enqueues_one_notify_and_one_mark_job_per_order() -> None:
    orders = _orders(3)
    assert enqueue_order_confirmations() == 3
    for path in (notify_order.path, mark_order_notified.path):
        args = sorted(Job.objects.filter(path=path).values_list("args", flat=True))
        assert args == [[o.pk] for o in orders]


def test_recent_and_already_notified_orders_are_left_alone() -> None:
    settled, recent, done = _orders(3)
    Order.objects.filter(pk=recent.pk).update(updated_at=timezone.now())
    Order.objects.filter(pk=done.pk).update(notified_at=timezone.now())
    assert enqueue_order_confirmations() == 1
    assert list(Job.objects.filter(path=notify_order.path).values_list("args", flat=True)) == [[settled.pk]]


def test_workers_send_each_confirmation_once_and_mark_every_order() -> None:
    _orders(5)
    enqueue_order_confirmations.enqueue()
    _run_workers()
    assert Order.objects.filter(notified_at__isnull=True).count() == 0
    assert DeliveredEmail.objects.count() == 5
    assert len(mail.outbox) == 5
    assert set(Job.objects.values_list("state", flat=True)) == {"completed"}


def test_running_the_enqueuer_twice_does_not_send_twice() -> None:
    _orders(2)
    enqueue_order_confirmations()
    enqueue_order_confirmations()  # unique jobs: the second run finds them held
    assert Job.objects.filter(path=notify_order.path).count() == 2
    _run_workers()
    assert DeliveredEmail.objects.count() == 2


def test_a_failed_send_is_retried_without_redoing_the_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    [order] = _orders(1)
    monkeypatch.setattr(
        "testproject.demo.orders.send_mail",
        lambda *a, **k: (_ for _ in ()).throw(ConnectionError("smtp down")),
    )
    enqueue_order_confirmations()
    _run_workers()
    notify = Job.objects.get(path=notify_order.path)
    assert notify.state == Job.State.RETRYABLE
    assert "ConnectionError: smtp down" in notify.errors[-1]["error"]
    # The local write went through on its own; the email will follow on retry.
    assert Order.objects.get(pk=order.pk).notified_at is not None


def test_every_order_job_has_the_25_second_time_limit() -> None:
    assert notify_order.timeout == mark_order_notified.timeout == 25
    assert enqueue_order_confirmations.timeout == 25
