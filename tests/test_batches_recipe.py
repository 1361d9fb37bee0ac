"""The batches guide's weekly email blast (testproject/demo/weekly_update.py), run for real."""

from __future__ import annotations

import pytest

from djobs.models import Batch, Job
from djobs.testing import drain_queue
from testproject.demo.models import DeliveredEmail
from testproject.demo.weekly_update import notify_admins, send_weekly_update, start_weekly_update
from tests.runjobs_process import RunJobs, wait_until

EMAILS = [f"subscriber{i}@example.com" for i in range(40)]
ADMIN = "admins@example.com"


def admin_summaries() -> list[str]:
    return list(DeliveredEmail.objects.filter(to=ADMIN).values_list("subject", flat=True))


@pytest.mark.django_db
def test_the_admins_hear_back_once_every_email_of_the_blast_is_sent() -> None:
    blast = start_weekly_update(EMAILS, admin_email=ADMIN)
    assert drain_queue("emails") == {"completed": len(EMAILS) + 1}  # the emails, then the callback
    assert DeliveredEmail.objects.exclude(to=ADMIN).count() == len(EMAILS)
    (summary,) = admin_summaries()
    assert summary.startswith(f"Weekly update done: {len(EMAILS)} sent, 0 failed (batch {blast.key})")
    assert Batch.objects.get(pk=blast.id).counts["completed"] == len(EMAILS)


@pytest.mark.django_db
def test_a_blast_that_fails_to_enqueue_leaves_nothing_behind() -> None:
    with pytest.raises(TypeError):
        start_weekly_update([*EMAILS[:3], {"a set is not JSON"}], admin_email=ADMIN)  # type: ignore[list-item]
    assert not Batch.objects.exists()
    assert not Job.objects.filter(path=send_weekly_update.path).exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_blast_under_runjobs_notifies_the_admins_exactly_once() -> None:
    blast = start_weekly_update(EMAILS, admin_email=ADMIN)
    # The callback is enqueued by the worker that ends the last email; a burst
    # worker may stop just before it, so run bursts until it has run.
    for _ in range(3):
        worker = RunJobs("--burst", "--queue", "emails=4")
        try:
            assert worker.wait(60) == 0, worker.output()[-3000:]
        finally:
            worker.stop()
        if admin_summaries():
            break
    wait_until(lambda: Batch.objects.get(pk=blast.id).state == "finished", timeout=10)
    assert len(admin_summaries()) == 1
    assert Job.objects.filter(path=notify_admins.path).count() == 1
    assert DeliveredEmail.objects.exclude(to=ADMIN).count() == len(EMAILS)
