"""``manage.py jobs status|retry|cancel|delete|run-now`` with filters and --dry-run."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from djobs.models import Job
from tests.factories import BatchFactory, JobFactory, WorkerProcessFactory

pytestmark = pytest.mark.django_db

S = Job.State


def jobs(*args: str) -> str:
    out = StringIO()
    call_command("jobs", *args, stdout=out)
    return out.getvalue()


def test_retry_with_filters_retries_only_the_matching_jobs() -> None:
    wanted = JobFactory(state=S.DISCARDED, queue="emails", finished_at=timezone.now())
    other_queue = JobFactory(state=S.DISCARDED, queue="default", finished_at=timezone.now())
    assert jobs("retry", "--state", "discarded", "--queue", "emails") == "Retried 1 job.\n"
    assert Job.objects.get(pk=wanted.pk).state == S.AVAILABLE
    assert Job.objects.get(pk=other_queue.pk).state == S.DISCARDED


def test_dry_run_says_how_many_would_change_and_changes_nothing() -> None:
    JobFactory.create_batch(2, state=S.AVAILABLE, path="tests.testapp.jobs.echo")
    assert (
        jobs("cancel", "--path", "tests.testapp.jobs.echo", "--dry-run") == "Would cancel 2 jobs (dry run).\n"
    )
    assert Job.objects.filter(state=S.AVAILABLE).count() == 2


def test_cancel_by_id_and_by_batch() -> None:
    batch = BatchFactory()
    in_batch = JobFactory(state=S.AVAILABLE, meta={"batch_id": str(batch.pk)})
    by_id = JobFactory(state=S.SCHEDULED, scheduled_at=timezone.now() + timedelta(hours=1))
    untouched = JobFactory(state=S.AVAILABLE)
    assert jobs("cancel", "--batch", str(batch.pk)) == "Cancelled 1 job.\n"
    assert jobs("cancel", "--id", str(by_id.pk)) == "Cancelled 1 job.\n"
    assert [Job.objects.get(pk=j.pk).state for j in (in_batch, by_id, untouched)] == [
        S.CANCELLED, S.CANCELLED, S.AVAILABLE,
    ]  # fmt: skip


def test_run_now_and_delete() -> None:
    later = JobFactory(state=S.SCHEDULED, scheduled_at=timezone.now() + timedelta(days=1))
    done = JobFactory(state=S.COMPLETED, finished_at=timezone.now())
    assert jobs("run-now", "--id", str(later.pk)) == "Made available 1 job.\n"
    assert Job.objects.get(pk=later.pk).state == S.AVAILABLE
    assert jobs("delete", "--state", "completed") == "Deleted 1 job.\n"
    assert not Job.objects.filter(pk=done.pk).exists()


def test_operations_without_a_filter_are_refused_unless_all_is_given() -> None:
    JobFactory(state=S.COMPLETED, finished_at=timezone.now())
    with pytest.raises(CommandError, match=r"give a filter .*or --all"):
        jobs("delete")
    assert Job.objects.count() == 1
    assert jobs("delete", "--all") == "Deleted 1 job.\n"


def test_status_prints_counts_per_queue_and_state_and_workers() -> None:
    JobFactory.create_batch(3, state=S.AVAILABLE, queue="emails")
    WorkerProcessFactory(id="w-1", queues={"emails": 5})
    text = jobs("status")
    emails = next(line for line in text.splitlines() if line.startswith("emails"))
    assert emails.split()[2] == "3"  # scheduled, available, ...
    assert "w-1" in text and "1 live worker process(es)" in text
    data = json.loads(jobs("status", "--json"))
    assert data["counts"]["emails"]["available"] == 3


def test_status_with_filters_counts_the_matching_jobs_per_state() -> None:
    JobFactory.create_batch(2, state=S.DISCARDED, queue="emails", finished_at=timezone.now())
    JobFactory(state=S.DISCARDED, queue="default", finished_at=timezone.now())
    assert json.loads(jobs("status", "--queue", "emails", "--json")) == {"discarded": 2}
