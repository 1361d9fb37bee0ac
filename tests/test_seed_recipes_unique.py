"""Seed 003's unique worker: one job per customer waiting or running in any minute."""

from __future__ import annotations

import pytest

from djobs.testing import all_enqueued, drain_queue
from testproject.demo.models import Customer
from testproject.recipes.jobs import sync_customer
from tests.testing_fixtures import either_database  # noqa: F401

pytestmark = pytest.mark.usefixtures("either_database")


def test_enqueueing_the_same_customer_twice_returns_the_waiting_job() -> None:
    customer = Customer.objects.create(email="ada@example.fr")
    first = sync_customer.enqueue(customer.pk, reason="signup")
    again = sync_customer.enqueue(customer.pk, reason="profile edit")
    assert again.pk == first.pk and again.duplicate
    assert len(all_enqueued(job=sync_customer)) == 1


def test_other_customers_are_not_duplicates() -> None:
    ada, bob = (Customer.objects.create(email=e) for e in ("ada@example.fr", "bob@example.com"))
    assert sync_customer.enqueue(ada.pk).pk != sync_customer.enqueue(bob.pk).pk


def test_a_finished_job_no_longer_holds_the_customer() -> None:
    customer = Customer.objects.create(email="ada@example.fr")
    first = sync_customer.enqueue(customer.pk)
    assert drain_queue("default") == {"completed": 1}
    assert Customer.objects.get(pk=customer.pk).timezone == "Europe/Paris"
    again = sync_customer.enqueue(customer.pk)
    assert again.pk != first.pk and not again.duplicate
