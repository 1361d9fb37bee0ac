"""Opening, tagging and sealing batches; callbacks checked when the batch is opened."""

from __future__ import annotations

import pytest
from django.db import transaction

import djobs
from djobs.batches import BatchError, BatchFinishedError, batch, callback, get_batch, open_batch, progress
from djobs.batches.completion import batches_seen
from djobs.batches.specs import to_spec
from djobs.exceptions import UnknownJobError
from djobs.hooks import TerminalJob
from djobs.models import Batch, Job
from djobs.testing import testing_mode
from tests.factories import BatchFactory, JobFactory
from tests.testapp import batch_jobs
from tests.testapp.jobs import add

pytestmark = pytest.mark.django_db

REPORT = "tests.testapp.batch_jobs.report"


def test_every_way_of_enqueueing_inside_the_block_tags_the_jobs_and_counts_them() -> None:
    with batch(description="tagging") as b:
        one = batch_jobs.work.enqueue(1)
        many = batch_jobs.work.enqueue_many([(2,), (3,)])
        mixed = djobs.enqueue_many([batch_jobs.work.new(4), add.new(1, 2)])
        added = b.add([batch_jobs.work.new(5)])
        explicit = b.enqueue(batch_jobs.work.using(priority=3), 6)
    jobs = [one, *many, *mixed, *added, explicit]
    assert {job.meta["batch_id"] for job in Job.objects.filter(pk__in=[j.pk for j in jobs])} == {b.key}
    row = b.row
    assert (row.state, row.size, row.description) == ("running", 7, "tagging")
    assert row.sealed_at is not None


def test_jobs_enqueued_outside_the_block_are_not_in_the_batch() -> None:
    with batch() as b:
        inside = batch_jobs.work.enqueue(1)
    outside = batch_jobs.work.enqueue(2)
    assert inside.meta == {"batch_id": b.key}
    assert "batch_id" not in outside.meta
    assert b.row.size == 1


def test_batch_is_exported_from_djobs() -> None:
    assert djobs.batch is batch


def test_a_batch_rolls_back_with_the_transaction_around_it() -> None:
    with pytest.raises(RuntimeError), transaction.atomic(), batch(on_complete=REPORT) as b:
        batch_jobs.work.enqueue(1)
        raise RuntimeError("changed my mind")
    assert not Batch.objects.filter(pk=b.id).exists()
    assert not Job.objects.filter(path=batch_jobs.work.path).exists()


def test_an_error_in_the_block_still_seals_the_jobs_already_enqueued() -> None:
    with pytest.raises(RuntimeError), batch() as b:
        batch_jobs.work.enqueue(1)
        raise RuntimeError("half way")
    assert (b.row.state, b.row.size) == ("running", 1)


def test_sealing_twice_is_refused() -> None:
    b = open_batch()
    b.seal()
    with pytest.raises(BatchError, match="not open"):
        b.seal()


def test_a_batch_can_be_filled_and_sealed_from_another_handle() -> None:
    b = open_batch(description="across requests")
    again = get_batch(b.key)
    again.enqueue(batch_jobs.work, 1)
    again.add([batch_jobs.work.new(2)])
    assert b.row.size == 2  # a handle that did not open the batch writes the size at once
    with b.adding():
        batch_jobs.work.enqueue_many([(3,), (4,)])
    get_batch(b.id).seal()
    assert (b.row.state, b.row.size) == ("running", 4)


def test_get_batch_names_the_bad_id() -> None:
    with pytest.raises(ValueError, match="'nope' is not a batch id"):
        get_batch("nope")
    with pytest.raises(BatchError, match="No batch"):
        get_batch("00000000-0000-4000-8000-000000000000")


def test_no_job_can_join_a_finished_batch() -> None:
    finished = BatchFactory(state="finished")
    with pytest.raises(BatchFinishedError, match="already finished"), transaction.atomic():
        get_batch(finished.pk).enqueue(batch_jobs.work, 1)
    assert not Job.objects.filter(path=batch_jobs.work.path).exists()


def test_callbacks_are_stored_as_json_specs() -> None:
    b = open_batch(
        on_complete=batch_jobs.report,
        on_success=callback(batch_jobs.report.using(queue="emails"), label="x"),
        on_discard=REPORT,
    )
    assert b.row.callbacks == {
        "on_complete": {"path": REPORT, "args": [], "kwargs": {}},
        "on_success": {"path": REPORT, "args": [], "kwargs": {"label": "x"}, "options": {"queue": "emails"}},
        "on_discard": {"path": REPORT, "args": [], "kwargs": {}},
    }


def test_a_callback_that_cannot_take_the_batch_id_and_counts_is_refused_at_open() -> None:
    with pytest.raises(TypeError, match=r"called as tests.testapp.jobs.add\(batch_id, counts"):
        open_batch(on_complete=callback(add, 1))
    assert not Batch.objects.exists()


def test_an_unregistered_callback_path_is_refused() -> None:
    with pytest.raises(UnknownJobError, match=r"myapp\.jobs\.notify"):
        to_spec("on_complete", "myapp.jobs.notify")


def test_a_callback_that_is_not_a_job_is_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"on_success=.* is not a job; pass an @job function"):
        to_spec("on_success", print)


def test_callback_extra_arguments_must_survive_json() -> None:
    with pytest.raises(TypeError, match="on_complete args"):
        to_spec("on_complete", callback(batch_jobs.report, {1, 2}))


def test_batches_seen_groups_jobs_and_remembers_a_discard() -> None:
    jobs = [
        TerminalJob(1, "completed", "default", {"batch_id": "a"}),
        TerminalJob(2, "cancelled", "default", {"batch_id": "a"}),
        TerminalJob(3, "completed", "default", {"batch_id": "b"}),
        TerminalJob(4, "discarded", "default", {}),
    ]
    assert batches_seen(jobs) == {"a": True, "b": False}


def test_progress_counts_active_jobs_by_state_and_the_rest_as_finished() -> None:
    b = BatchFactory(state="running", size=5)
    for state in ["available", "available", "executing", "completed", "discarded"]:
        JobFactory(state=state, meta={"batch_id": str(b.pk)})
    assert progress(b) == {"available": 2, "executing": 1, "finished": 2}
    assert progress(str(b.pk), exact=True) == {"available": 2, "executing": 1, "completed": 1, "discarded": 1}
    done = BatchFactory(state="finished", counts={"completed": 3, "discarded": 0, "cancelled": 0})
    assert progress(done) == {"completed": 3, "discarded": 0, "cancelled": 0}


def test_in_inline_mode_the_jobs_run_at_once_and_the_callbacks_when_the_block_exits() -> None:
    with testing_mode("inline"), batch(on_complete=REPORT, on_success=REPORT) as b:
        batch_jobs.work.enqueue(1)
        batch_jobs.work.enqueue_many([(2,), (3,)])
        assert b.row.state == "open"
        assert Job.objects.filter(meta__callback_of=b.key).count() == 0
    row = b.row
    assert (row.state, row.size, row.counts["completed"]) == ("finished", 3, 3)
    callbacks = Job.objects.filter(meta__callback_of=b.key)
    assert sorted(callbacks.values_list("state", flat=True)) == ["completed", "completed"]
    assert all("batch_id" not in job.meta for job in callbacks)
