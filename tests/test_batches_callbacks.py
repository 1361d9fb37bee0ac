"""Batch callbacks under the dispatcher: each kind fires when specified, and only once."""

from __future__ import annotations

from typing import Any

import pytest

from djobs import operations
from djobs.batches import batch, callback, open_batch
from djobs.batches.completion import flush
from djobs.models import Batch, Job
from djobs.worker.runner import run_burst
from tests.testapp import batch_jobs
from tests.testapp.models import Marker

pytestmark = pytest.mark.django_db(transaction=True)

REPORT = "tests.testapp.batch_jobs.report"


def drain(rounds: int = 6) -> None:
    """Run burst workers until nothing is runnable (callbacks enqueued at the end included)."""
    for _ in range(rounds):
        run_burst({"default": 4})
        flush()  # the worker's recorder hands batch checks to a thread of their own
        if not Job.objects.filter(state__in=["available", "retryable", "executing"]).exists():
            return
    raise AssertionError("jobs still runnable after draining")


def callbacks_of(batch_id: Any, kind: str | None = None) -> list[Job]:
    jobs = Job.objects.filter(meta__callback_of=str(batch_id)).order_by("id")
    return [j for j in jobs if kind is None or j.meta["batch_callback"] == kind]


def test_on_complete_and_on_success_fire_once_when_every_job_completed() -> None:
    with batch(on_complete=batch_jobs.report, on_success=batch_jobs.report, description="all good") as b:
        batch_jobs.work.enqueue_many([(i,) for i in range(30)])
    drain()
    row = b.row
    assert (row.state, row.size) == ("finished", 30)
    assert row.counts == {"completed": 30, "discarded": 0, "cancelled": 0}
    complete, success = callbacks_of(b.id, "on_complete"), callbacks_of(b.id, "on_success")
    assert len(complete) == len(success) == 1
    assert complete[0].state == "completed"
    assert complete[0].result == {"batch_id": b.key, "counts": row.counts, "label": ""}
    assert "batch_id" not in complete[0].meta  # a callback does not hold its batch open
    assert row.meta["fired"] == {"on_complete": complete[0].id, "on_success": success[0].id}


def test_callback_gets_its_extra_arguments_and_options_after_the_batch_id_and_counts() -> None:
    with batch(on_complete=callback(batch_jobs.report.using(queue="default", priority=2), label="ops")) as b:
        batch_jobs.work.enqueue(1)
    drain()
    (job,) = callbacks_of(b.id)
    assert job.priority == 2
    assert job.args == [b.key, {"completed": 1, "discarded": 0, "cancelled": 0}]
    assert job.kwargs == {"label": "ops"}


def test_on_success_never_fires_when_a_job_was_discarded() -> None:
    with batch(on_complete=REPORT, on_success=REPORT, on_discard=REPORT) as b:
        batch_jobs.work.enqueue_many([(i,) for i in range(5)])
        batch_jobs.discards.enqueue(5)
    drain()
    row = b.row
    assert row.counts == {"completed": 5, "discarded": 1, "cancelled": 0}
    assert len(callbacks_of(b.id, "on_complete")) == 1
    assert len(callbacks_of(b.id, "on_discard")) == 1
    assert callbacks_of(b.id, "on_success") == []


def test_on_discard_fires_once_at_the_first_discard_while_other_jobs_still_wait() -> None:
    with batch(on_discard=REPORT, on_complete=REPORT) as b:
        batch_jobs.discards.enqueue_many([(1,), (2,)])
        batch_jobs.cancels.enqueue(3)
        later = batch_jobs.work.using(schedule_in=3600).enqueue(4)
    drain()
    row = b.row
    assert row.state == "running" and row.discarded_at is not None
    (on_discard,) = callbacks_of(b.id, "on_discard")
    assert on_discard.state == "completed"
    assert on_discard.args[1]["discarded"] >= 1
    assert callbacks_of(b.id, "on_complete") == []
    operations.run_now([later.id])
    drain()
    assert b.row.state == "finished"
    assert len(callbacks_of(b.id, "on_discard")) == 1
    assert len(callbacks_of(b.id, "on_complete")) == 1


def test_cancelling_a_job_of_the_batch_from_the_admin_fires_on_discard_and_finishes_it() -> None:
    with batch(on_discard=REPORT, on_complete=REPORT, on_success=REPORT) as b:
        waiting = batch_jobs.work.using(schedule_in=3600).enqueue(1)
    operations.cancel([waiting.id])
    row = b.row
    assert row.state == "finished" and row.counts["cancelled"] == 1
    assert len(callbacks_of(b.id, "on_discard")) == 1
    assert len(callbacks_of(b.id, "on_complete")) == 1
    assert callbacks_of(b.id, "on_success") == []


def test_a_retryable_job_keeps_the_batch_open_until_its_last_attempt() -> None:
    with batch(on_complete=REPORT) as b:
        job = batch_jobs.fails.using(schedule_in=0).enqueue(1)
    run_burst({"default": 1})
    flush()
    job.refresh_from_db()
    if job.state == "retryable":  # the burst may also have run the retry already
        assert b.row.state == "running"
        assert callbacks_of(b.id) == []
    drain()
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("discarded", 2)
    assert b.row.counts == {"completed": 0, "discarded": 1, "cancelled": 0}
    assert len(callbacks_of(b.id, "on_complete")) == 1


def test_an_empty_batch_finishes_when_sealed() -> None:
    with batch(on_complete=REPORT, on_success=REPORT) as b:
        pass
    row = b.row
    assert (row.state, row.size) == ("finished", 0)
    assert row.counts == {"completed": 0, "discarded": 0, "cancelled": 0}
    assert len(callbacks_of(b.id)) == 2


def test_a_batch_sealed_after_its_jobs_finished_fires_at_the_seal() -> None:
    b = open_batch(on_complete=REPORT)
    b.enqueue(batch_jobs.work, 1)
    b.add([batch_jobs.work.new(2), batch_jobs.work.new(3)])
    drain()
    assert b.row.state == "open"
    assert callbacks_of(b.id) == []
    b.seal()
    row = b.row
    assert (row.state, row.size) == ("finished", 3)
    assert len(callbacks_of(b.id)) == 1


def test_a_job_extends_its_own_batch_and_the_batch_waits_for_the_new_jobs() -> None:
    with batch(on_complete=REPORT) as b:
        batch_jobs.backfill.enqueue(1, 6)
    drain()
    row = b.row
    assert row.state == "finished"
    assert (row.size, row.counts["completed"]) == (6, 6)
    pages = Job.objects.filter(path=batch_jobs.backfill.path).order_by("id")
    assert [j.result for j in pages] == [1, 2, 3, 4, 5, 6]
    assert all(j.meta["batch_id"] == b.key for j in pages)
    (report,) = callbacks_of(b.id)
    assert report.args[1]["completed"] == 6


def test_a_failing_callback_is_retried_as_a_job_of_its_own() -> None:
    with batch(on_complete=batch_jobs.flaky_report) as b:
        batch_jobs.work.enqueue(1)
    drain()
    (report,) = callbacks_of(b.id)
    assert (report.state, report.attempt, report.result) == ("completed", 2, "reported")
    assert Marker.objects.filter(name=f"flaky {b.key}").count() == 2


def test_batches_finish_independently() -> None:
    with batch(on_complete=REPORT) as first:
        batch_jobs.work.enqueue_many([(i,) for i in range(10)])
    with batch(on_complete=REPORT) as second:
        batch_jobs.work.using(schedule_in=3600).enqueue(1)
    drain()
    assert Batch.objects.get(pk=first.id).state == "finished"
    assert Batch.objects.get(pk=second.id).state == "running"
    assert len(callbacks_of(first.id)) == 1 and callbacks_of(second.id) == []


def test_one_burst_run_also_runs_the_callbacks_its_batch_jobs_trigger() -> None:
    with batch(on_complete=batch_jobs.report, on_success=batch_jobs.report) as b:
        batch_jobs.work.enqueue_many([(i,) for i in range(20)])
    run_burst({"default": 4})
    callbacks = callbacks_of(b.id)
    assert [job.state for job in callbacks] == ["completed", "completed"]
    assert b.row.state == "finished"
