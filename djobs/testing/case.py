"""``JobsTestCaseMixin``: the testing helpers as ``TestCase`` methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .assertions import all_enqueued, assert_enqueued, refute_enqueued
from .drain import DrainResult, drain_queue
from .modes import testing_mode
from .perform import PerformResult, perform_job

if TYPE_CHECKING:
    from ..models import Job


class JobsTestCaseMixin:
    """Mix into a Django ``TestCase``/``TransactionTestCase`` for job assertions.

    ::

        class InvoiceTests(JobsTestCaseMixin, TestCase):
            djobs_testing = "manual"          # optional: "manual" or "inline" for every test

            def test_paying_enqueues_the_receipt(self):
                pay(self.invoice)
                self.assertEnqueued(send_receipt, kwargs={"invoice_id": self.invoice.pk})

    The methods take the arguments of :func:`djobs.testing.assert_enqueued`,
    :func:`~djobs.testing.perform_job` and :func:`~djobs.testing.drain_queue`.
    """

    #: ``"manual"``, ``"inline"`` or None (leave ``DJOBS["TESTING"]`` as configured).
    djobs_testing: str | None = None

    failureException: type[BaseException]  # provided by unittest.TestCase

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        if self.djobs_testing is not None:
            self.enterContext(testing_mode(self.djobs_testing))  # type: ignore[attr-defined]

    def _fail(self, error: AssertionError) -> BaseException:
        return self.failureException(str(error))

    def assertEnqueued(self, job: Any = None, **criteria: Any) -> Job:
        """Assert a matching job was enqueued; return it (see ``assert_enqueued``)."""
        try:
            return assert_enqueued(job, **criteria)
        except AssertionError as error:
            raise self._fail(error) from None

    def refuteEnqueued(self, job: Any = None, **criteria: Any) -> None:
        """Assert no matching job was enqueued (see ``refute_enqueued``)."""
        try:
            refute_enqueued(job, **criteria)
        except AssertionError as error:
            raise self._fail(error) from None

    assertNotEnqueued = refuteEnqueued

    def allEnqueued(self, job: Any = None, **criteria: Any) -> list[Job]:
        """Return the matching enqueued jobs, oldest first (see ``all_enqueued``)."""
        return all_enqueued(job, **criteria)

    def performJob(self, job: Any, *args: Any, **options: Any) -> PerformResult:
        """Run one job now and return how it ended (see ``perform_job``)."""
        return perform_job(job, *args, **options)

    def drainQueue(self, queue: str | None = None, **options: Any) -> DrainResult:
        """Run a queue's jobs now and count the outcomes (see ``drain_queue``)."""
        return drain_queue(queue, **options)


__all__ = ["JobsTestCaseMixin"]
