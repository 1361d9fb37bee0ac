"""djobs.operations: retry, cancel, run now and delete as conditional statements."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from djobs import operations
from djobs.models import Job
from djobs.states import STATE_BITS, states_mask
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

S = Job.State


def states(*jobs: Job) -> list[str]:
    return [Job.objects.get(pk=job.pk).state for job in jobs]


def test_retry_makes_discarded_cancelled_retryable_and_completed_jobs_available_now() -> None:
    past = timezone.now() - timedelta(hours=1)
    later = timezone.now() + timedelta(hours=1)
    jobs = [
        JobFactory(state=S.DISCARDED, finished_at=past, attempt=3, max_attempts=3),
        JobFactory(state=S.CANCELLED, finished_at=past),
        JobFactory(state=S.RETRYABLE, scheduled_at=later, attempt=1),
        JobFactory(state=S.COMPLETED, finished_at=past, attempt=1),
    ]
    before = timezone.now()
    assert operations.retry(Job.objects.all()) == 4
    for job in Job.objects.all():
        assert job.state == S.AVAILABLE
        assert job.finished_at is None
        assert before <= job.scheduled_at <= timezone.now()
    assert Job.objects.get(pk=jobs[0].pk).max_attempts == 4


def test_retry_leaves_running_scheduled_and_available_jobs_alone() -> None:
    running = JobFactory(state=S.EXECUTING, attempt=1, worker_id="w1")
    scheduled = JobFactory(state=S.SCHEDULED, scheduled_at=timezone.now() + timedelta(hours=1))
    available = JobFactory(state=S.AVAILABLE)
    assert operations.retry([running.pk, scheduled.pk, available.pk]) == 0
    assert states(running, scheduled, available) == [S.EXECUTING, S.SCHEDULED, S.AVAILABLE]


def test_retry_keeps_the_attempt_limit_when_attempts_are_left() -> None:
    job = JobFactory(state=S.CANCELLED, attempt=1, max_attempts=5)
    operations.retry([job.pk])
    job.refresh_from_db()
    assert (job.attempt, job.max_attempts) == (1, 5)


def test_retry_keeps_errors_as_history() -> None:
    errors = [{"attempt": 1, "at": "2026-01-01T00:00:00+00:00", "error": "boom", "traceback": "tb"}]
    job = JobFactory(state=S.DISCARDED, attempt=1, max_attempts=1, errors=errors)
    operations.retry([job.pk])
    job.refresh_from_db()
    assert job.errors == errors


def test_cancel_marks_unfinished_jobs_cancelled_with_a_finish_time() -> None:
    jobs = [
        JobFactory(state=S.SCHEDULED, scheduled_at=timezone.now() + timedelta(hours=1)),
        JobFactory(state=S.AVAILABLE),
        JobFactory(state=S.EXECUTING, attempt=1, worker_id="w1"),
        JobFactory(state=S.RETRYABLE, attempt=1),
    ]
    assert operations.cancel(Job.objects.all()) == 4
    for job in Job.objects.all():
        assert job.state == S.CANCELLED
        assert job.finished_at is not None
    assert states(*jobs) == [S.CANCELLED] * 4


def test_cancel_does_not_touch_finished_jobs() -> None:
    done = JobFactory(state=S.COMPLETED, finished_at=timezone.now(), result=3)
    assert operations.cancel([done.pk]) == 0
    done.refresh_from_db()
    assert (done.state, done.result) == (S.COMPLETED, 3)


def test_a_cancelled_running_job_ignores_the_workers_fenced_outcome_write() -> None:
    job = JobFactory(state=S.EXECUTING, attempt=1, worker_id="w1")
    operations.cancel([job.pk])
    # The dispatcher records outcomes only where the row is still executing under it.
    written = Job.objects.filter(pk=job.pk, state=S.EXECUTING, worker_id="w1", attempt=1).update(
        state=S.COMPLETED, result=42
    )
    job.refresh_from_db()
    assert written == 0
    assert (job.state, job.result) == (S.CANCELLED, None)


def test_run_now_makes_scheduled_and_retryable_jobs_available_now() -> None:
    later = timezone.now() + timedelta(days=1)
    scheduled = JobFactory(state=S.SCHEDULED, scheduled_at=later)
    retryable = JobFactory(state=S.RETRYABLE, scheduled_at=later, attempt=1)
    done = JobFactory(state=S.COMPLETED, finished_at=timezone.now())
    assert operations.run_now([scheduled.pk, retryable.pk, done.pk]) == 2
    assert states(scheduled, retryable, done) == [S.AVAILABLE, S.AVAILABLE, S.COMPLETED]
    scheduled.refresh_from_db()
    assert scheduled.scheduled_at <= timezone.now()


def test_delete_removes_jobs_but_not_running_ones() -> None:
    done = JobFactory(state=S.COMPLETED, finished_at=timezone.now())
    waiting = JobFactory(state=S.AVAILABLE)
    running = JobFactory(state=S.EXECUTING, attempt=1, worker_id="w1")
    assert operations.delete(Job.objects.all()) == 2
    assert list(Job.objects.values_list("pk", flat=True)) == [running.pk]
    assert not Job.objects.filter(pk__in=[done.pk, waiting.pk]).exists()


def test_delete_keeps_pending_jobs_of_a_batch_but_removes_finished_ones() -> None:
    pending = JobFactory(state=S.AVAILABLE, meta={"batch_id": "b1"})
    finished = JobFactory(state=S.COMPLETED, finished_at=timezone.now(), meta={"batch_id": "b1"})
    assert operations.delete([pending.pk, finished.pk]) == 1
    assert list(Job.objects.values_list("pk", flat=True)) == [pending.pk]


def test_operations_accept_a_sliced_queryset() -> None:
    JobFactory.create_batch(3, state=S.DISCARDED, finished_at=timezone.now())
    assert operations.retry(Job.objects.order_by("pk")[:2]) == 2
    assert Job.objects.filter(state=S.AVAILABLE).count() == 2


def test_cancel_clears_the_unique_key_when_cancelled_is_not_covered() -> None:
    mask = states_mask([S.AVAILABLE, S.SCHEDULED])
    job = JobFactory(state=S.AVAILABLE, unique_key="k1", unique_states=mask)
    operations.cancel([job.pk])
    job.refresh_from_db()
    assert job.unique_key is None
    # The key is free again: a new job may take it.
    JobFactory(state=S.AVAILABLE, unique_key="k1", unique_states=mask)


def test_retry_keeps_the_unique_key_when_available_is_covered() -> None:
    mask = states_mask([S.AVAILABLE, S.COMPLETED])
    job = JobFactory(state=S.COMPLETED, unique_key="k2", unique_states=mask)
    operations.retry([job.pk])
    job.refresh_from_db()
    assert job.unique_key == "k2"


def test_run_now_clears_the_unique_key_when_only_scheduled_is_covered() -> None:
    job = JobFactory(
        state=S.SCHEDULED,
        scheduled_at=timezone.now() + timedelta(hours=1),
        unique_key="k3",
        unique_states=STATE_BITS[S.SCHEDULED],
    )
    operations.run_now([job.pk])
    job.refresh_from_db()
    assert (job.state, job.unique_key) == (S.AVAILABLE, None)


def test_eligible_counts_what_an_operation_would_change_without_changing_it() -> None:
    JobFactory(state=S.DISCARDED, finished_at=timezone.now())
    JobFactory(state=S.AVAILABLE)
    assert operations.eligible("retry", Job.objects.all()).count() == 1
    assert Job.objects.filter(state=S.DISCARDED).count() == 1


def test_an_unknown_operation_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"'restart'.*retry, cancel, run_now, delete"):
        operations.eligible("restart", [1])


def test_bad_ids_are_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match="'x1'"):
        operations.retry(["x1"])
    with pytest.raises(TypeError, match="wrap ids in a list"):
        operations.retry("12")


@pytest.mark.django_db(transaction=True)
def test_cancel_tells_the_after_terminal_hooks_which_batch_jobs_ended() -> None:
    from djobs.hooks import TerminalHook, TerminalJob, hooks

    seen: list[list[TerminalJob]] = []
    hooks.add_terminal(TerminalHook(seen.append))
    try:
        job = JobFactory(state=S.AVAILABLE, meta={"batch_id": "b7"})
        JobFactory(state=S.COMPLETED, finished_at=timezone.now())
        assert operations.cancel(Job.objects.all()) == 1
    finally:
        hooks.remove_terminal(TerminalHook(seen.append))
    assert [[(j.id, j.state, j.meta) for j in call] for call in seen] == [
        [(job.pk, S.CANCELLED, {"batch_id": "b7"})]
    ]


def test_the_guides_example_runs_as_written() -> None:
    charge = JobFactory(state=S.DISCARDED, path="shop.jobs.charge", finished_at=timezone.now())
    a, b = JobFactory(state=S.AVAILABLE), JobFactory(state=S.AVAILABLE)
    later = JobFactory(state=S.SCHEDULED, queue="emails", scheduled_at=timezone.now() + timedelta(hours=1))
    done = JobFactory(state=S.COMPLETED, finished_at=timezone.now())

    assert operations.retry(Job.objects.filter(state="discarded", path="shop.jobs.charge")) == 1
    assert operations.cancel([a.pk, b.pk]) == 2
    assert operations.run_now(Job.objects.filter(queue="emails", state="scheduled")) == 1
    assert operations.delete(Job.objects.filter(state="completed")) == 1
    assert operations.eligible("retry", Job.objects.filter(queue="emails")).count() == 0

    assert states(charge, a, b, later) == [S.AVAILABLE, S.CANCELLED, S.CANCELLED, S.AVAILABLE]
    assert not Job.objects.filter(pk=done.pk).exists()


def test_deletable_agrees_with_delete() -> None:
    jobs = [
        JobFactory(state=S.EXECUTING, attempt=1),
        JobFactory(state=S.AVAILABLE, meta={"batch_id": "b"}),
        JobFactory(state=S.COMPLETED, meta={"batch_id": "b"}, finished_at=timezone.now()),
        JobFactory(state=S.SCHEDULED, scheduled_at=timezone.now() + timedelta(hours=1)),
    ]
    expected = {job.pk for job in jobs if operations.deletable(job)}
    assert expected == {jobs[2].pk, jobs[3].pk}
    operations.delete(Job.objects.all())
    assert set(Job.objects.values_list("pk", flat=True)) == {jobs[0].pk, jobs[1].pk}


@pytest.mark.django_db(transaction=True)
def test_cancelling_the_last_jobs_of_a_batch_completes_it() -> None:
    from djobs.batches import batch
    from djobs.models import Batch
    from tests.testapp.jobs import add, echo

    with batch(on_complete=echo, on_discard=echo) as b:
        first = add.enqueue(1, 2)
        second = add.enqueue(3, 4)
    assert operations.cancel([first.pk, second.pk]) == 2
    row = Batch.objects.get(pk=b.id)
    assert row.state == Batch.State.FINISHED
    assert row.discarded_at is not None
    assert sorted(row.meta["fired"]) == ["on_complete", "on_discard"]
