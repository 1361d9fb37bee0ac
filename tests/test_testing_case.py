"""JobsTestCaseMixin: the helpers as methods of Django's TestCase and TransactionTestCase."""

from __future__ import annotations

from django.test import TestCase, TransactionTestCase

from djobs.conf import get_settings
from djobs.testing import JobsTestCaseMixin
from testproject.recipes.jobs import process_invoice, send_email
from testproject.recipes.models import Invoice
from tests.testapp.jobs import add
from tests.testapp.jobs import send_email as send_test_email
from tests.testapp.testing_jobs import RAN, boom, countdown, note


class CustomFailure(AssertionError):
    pass


class MixinInTestCaseTests(JobsTestCaseMixin, TestCase):
    failureException = CustomFailure

    def setUp(self) -> None:
        super().setUp()
        RAN.clear()

    def test_assert_enqueued_returns_the_matching_job(self) -> None:
        job = send_test_email.enqueue("ada@example.com")
        self.assertEqual(self.assertEnqueued(send_test_email, kwargs={"to": "ada@example.com"}), job)

    def test_a_failing_assertion_raises_the_test_cases_failure_exception_with_the_listing(self) -> None:
        add.enqueue(1, 2)
        with self.assertRaises(CustomFailure) as failure:
            self.assertEnqueued(add, args=[9])
        self.assertIn("args are [1, 2], expected them to start with [9]", str(failure.exception))
        with self.assertRaises(CustomFailure):
            self.refuteEnqueued(add)
        with self.assertRaises(CustomFailure):
            self.assertNotEnqueued(add)

    def test_all_enqueued_perform_job_and_drain_queue(self) -> None:
        note.enqueue_many([("a",), ("b",)])
        self.assertEqual(len(self.allEnqueued(note)), 2)
        self.assertTrue(self.performJob(add, [1, 2]).completed)
        self.assertTrue(self.performJob(boom, ["x"]).retryable)
        self.assertEqual(self.drainQueue("testing"), {"completed": 2})
        self.refuteEnqueued(note)
        self.assertEqual(RAN, ["a", "b"])


class InlineTransactionTestCaseTests(JobsTestCaseMixin, TransactionTestCase):
    djobs_testing = "inline"

    def setUp(self) -> None:
        super().setUp()
        RAN.clear()

    def test_every_test_of_the_class_runs_jobs_inline(self) -> None:
        self.assertEqual(get_settings().TESTING, "inline")
        countdown.enqueue(2)
        self.assertEqual(RAN, [2, 1, 0])
        self.assertEnqueued(countdown, args=[0], state="completed")


class ManualTestCaseTests(JobsTestCaseMixin, TestCase):
    djobs_testing = "manual"

    def test_manual_mode_leaves_jobs_for_drain_queue(self) -> None:
        self.assertEqual(get_settings().TESTING, "manual")
        countdown.enqueue(1)
        self.assertEnqueued(countdown, args=[1])
        self.assertEqual(self.drainQueue("testing", with_recursion=False), {"completed": 1})
        self.assertEnqueued(countdown, args=[0])


class InvoiceTests(JobsTestCaseMixin, TestCase):
    """The testing guide's example."""

    djobs_testing = "manual"  # optional: "manual" or "inline" for every test

    def setUp(self) -> None:
        super().setUp()
        self.invoice = Invoice.objects.create(
            number="2026-001", customer_email="ada@example.com", amount_cents=12_50
        )

    def test_paying_sends_the_invoice(self) -> None:
        process_invoice.enqueue(self.invoice.pk)
        self.assertEqual(self.drainQueue("default"), {"completed": 1})
        self.assertEnqueued(send_email, kwargs={"to": "ada@example.com"})
