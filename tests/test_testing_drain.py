"""drain_queue runs a queue's jobs in the test through the dispatcher's claim and record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from djobs import batch
from djobs.hooks import TerminalHook, TerminalJob, hooks
from djobs.maintenance.scheduler import PeriodicScheduler, SchedulerConfig
from djobs.models import Job
from djobs.testing import DrainLoopError, assert_enqueued, drain, drain_queue, refute_enqueued
from tests.factories import PeriodicScheduleFactory
from tests.testapp import testing_jobs
from tests.testapp.jobs import add, send_email
from tests.testapp.testing_jobs import (
    RAN,
    batch_done,
    boom,
    cancel_because,
    countdown,
    fails_until,
    fan_out,
    note,
    snooze_for,
)
from tests.testing_fixtures import either_database  # noqa: F401

pytestmark = pytest.mark.usefixtures("either_database")


def test_drain_runs_the_queues_jobs_and_counts_them_by_outcome() -> None:
    note.enqueue("a")
    snooze_for.enqueue(60)
    cancel_because.enqueue("no")
    boom.enqueue("down")
    result = drain_queue("testing")
    assert result == {"completed": 1, "snoozed": 1, "cancelled": 1, "retryable": 1}
    assert result["discarded"] == 0 and result.total == 4
    paths = [r.job.path for r in result.results]
    assert paths == [note.path, snooze_for.path, cancel_because.path, boom.path]


def test_drained_rows_end_in_the_states_the_dispatcher_records() -> None:
    job = add.enqueue(2, 3)
    failing = boom.using(queue="default").enqueue("down")
    drain_queue()
    job.refresh_from_db()
    assert (job.state, job.result, job.attempt) == ("completed", 5, 1)
    assert job.finished_at is not None and job.worker_id.startswith("drain-")
    failing.refresh_from_db()
    assert (failing.state, failing.attempt) == ("retryable", 1)
    assert [e["error"] for e in failing.errors] == ["ValueError: down"]


def test_only_the_given_queue_is_drained() -> None:
    add.enqueue(1, 1)
    send_email.enqueue("ada@example.com")
    assert drain_queue("emails") == {"completed": 1}
    assert_enqueued(job=add)
    refute_enqueued(job=send_email)


def test_an_empty_queue_drains_to_nothing() -> None:
    result = drain_queue("testing")
    assert result == {} and result.total == 0


def test_jobs_enqueued_by_drained_jobs_run_too() -> None:
    countdown.enqueue(3)
    assert drain_queue("testing") == {"completed": 4}
    assert RAN == [3, 2, 1, 0]
    refute_enqueued(job=countdown)


def test_without_recursion_only_the_jobs_runnable_at_the_start_run() -> None:
    countdown.enqueue(3)
    countdown.enqueue(7)
    assert drain_queue("testing", with_recursion=False) == {"completed": 2}
    assert RAN == [3, 7]
    assert_enqueued(job=countdown, args=[2])
    assert_enqueued(job=countdown, args=[6])


def test_jobs_run_in_priority_order_including_those_enqueued_meanwhile() -> None:
    note.using(priority=5).enqueue("late")
    fan_out.using(priority=1).enqueue(["urgent"], priority=0)
    drain_queue("testing")
    assert RAN == ["urgent", "late"]


def test_scheduled_jobs_wait_unless_with_scheduled() -> None:
    note.using(schedule_in=3600).enqueue("later")
    assert drain_queue("testing") == {}
    assert_enqueued(job=note, state="scheduled")
    assert drain_queue("testing", with_scheduled=True) == {"completed": 1}
    assert RAN == ["later"]


def test_a_retry_due_at_once_is_run_again_until_it_succeeds() -> None:
    job = fails_until.enqueue(3)
    result = drain_queue("testing")
    assert result == {"retryable": 2, "completed": 1}
    job.refresh_from_db()
    assert (job.state, job.attempt, job.result) == ("completed", 3, 3)
    assert [e["error"] for e in job.errors] == [
        "ConnectionError: gateway down (attempt 1)",
        "ConnectionError: gateway down (attempt 2)",
    ]


def test_with_scheduled_does_not_rerun_a_job_this_drain_already_ran() -> None:
    boom.enqueue("down")
    snooze_for.enqueue(60)
    assert drain_queue("testing", with_scheduled=True) == {"retryable": 1, "snoozed": 1}
    assert_enqueued(job=boom, state="retryable")


def test_with_safety_false_records_the_failure_then_raises_it() -> None:
    job = boom.enqueue("loud")
    note.enqueue("after")
    with pytest.raises(ValueError, match="loud"):
        drain_queue("testing", with_safety=False)
    job.refresh_from_db()
    assert job.state == "retryable" and job.errors[0]["error"] == "ValueError: loud"
    assert_enqueued(job=note, args=["after"])


def test_with_limit_stops_quietly_after_that_many_runs() -> None:
    countdown.enqueue(10)
    assert drain_queue("testing", with_limit=3) == {"completed": 3}
    assert_enqueued(job=countdown, args=[7])


def test_a_job_that_never_stops_coming_back_ends_the_drain_with_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(drain, "MAX_RUNS", 25)
    snooze_for.enqueue(0)
    with pytest.raises(DrainLoopError, match=r"ran 25 jobs and the queue is still not empty"):
        drain_queue("testing")


def test_after_terminal_hooks_see_each_job_that_ended_as_batches_do() -> None:
    seen: list[TerminalJob] = []
    hooks.add_terminal(TerminalHook(seen.extend))
    try:
        done = note.using(meta={"batch_id": "b1"}).enqueue("x")
        cancelled = cancel_because.using(meta={"batch_id": "b1"}).enqueue("no")
        snooze_for.enqueue(60)
        drain_queue("testing")
    finally:
        hooks.remove_terminal(TerminalHook(seen.extend))
    assert seen == [
        TerminalJob(done.pk, "completed", "testing", {"batch_id": "b1"}),
        TerminalJob(cancelled.pk, "cancelled", "testing", {"batch_id": "b1"}),
    ]


def test_a_periodic_tick_is_drained_like_any_job() -> None:
    PeriodicScheduleFactory(
        name="sums", cron="0 9 * * *", args=[2, 3], next_run_at=datetime(2026, 1, 5, 9, tzinfo=UTC)
    )
    PeriodicScheduler(SchedulerConfig(sync_on_start=False)).run_once(now=datetime(2026, 1, 5, 9, tzinfo=UTC))
    job = assert_enqueued(job=add, args=[2, 3], meta={"periodic": "sums"})
    assert drain_queue() == {"completed": 1}
    job.refresh_from_db()
    assert job.result == 5


def test_a_database_error_in_a_drained_job_leaves_the_test_usable() -> None:
    testing_jobs.breaks_the_database.enqueue()
    note.enqueue("after")
    assert drain_queue("testing") == {"exhausted": 1, "completed": 1}
    assert Job.objects.filter(state="discarded").count() == 1


def test_a_bad_queue_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"drain_queue\(queue=''\)"):
        drain_queue("")


def test_a_batch_callback_is_enqueued_when_the_batch_ends_and_drained_too() -> None:
    with batch(on_complete=batch_done):
        note.enqueue("a")
        cancel_because.enqueue("no")
    assert drain_queue("testing") == {"completed": 2, "cancelled": 1}
    assert RAN == ["a", ("batch", {"completed": 1, "cancelled": 1})]
