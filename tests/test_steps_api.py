"""Durable steps and iterations run in the test process (drain_queue, perform_job): the contract."""

from __future__ import annotations

from collections import Counter

import pytest

from djobs import operations
from djobs.durable import StepError, runtime
from djobs.durable.models import JobProgress
from djobs.models import Job
from djobs.testing import drain_queue, interrupt_job, perform_job
from tests.testapp import durable_jobs as dj
from tests.testapp.models import Marker, Row, RowVisit

pytestmark = pytest.mark.django_db


def markers(job: Job, name: str) -> int:
    return Marker.objects.filter(job_id=job.pk, name=name).count()


def visits(job: Job) -> Counter[str]:
    return Counter(RowVisit.objects.filter(job_id=job.pk).values_list("row", flat=True))


def rows(count: int) -> list[str]:
    return [str(row.pk) for row in Row.objects.bulk_create([Row(n=i) for i in range(count)])]


def test_a_finished_step_is_not_run_again_on_the_next_attempt() -> None:
    job = dj.three_steps.enqueue()
    assert drain_queue() == {"retryable": 1, "completed": 1}
    job.refresh_from_db()
    assert job.result == ["one done", "two done", "three done"]
    assert (markers(job, "one"), markers(job, "two"), markers(job, "three")) == (1, 2, 1)
    progress = JobProgress.objects.get(job_id=job.pk)
    assert progress.steps == [["one", "one done"], ["two", "two done"], ["three", "three done"]]


def test_a_step_name_used_twice_in_one_run_is_an_error_naming_it() -> None:
    result = perform_job(dj.step_twice)
    assert isinstance(result.exception, StepError)
    assert "ctx.step('same') is called a second time" in str(result.exception)


def test_a_step_result_json_cannot_store_is_an_error_saying_what_to_return() -> None:
    result = perform_job(dj.step_not_json)
    assert isinstance(result.exception, StepError)
    assert "Step 'bad' returned <object object" in str(result.exception)
    assert "return plain data" in str(result.exception)


def test_each_visits_every_row_once_and_saves_where_it_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "PAGE_SIZE", 500)
    pks = rows(1203)  # more than two pages
    job = dj.visit_rows.enqueue()
    assert drain_queue() == {"completed": 1}
    assert visits(job) == Counter(pks)
    saved = JobProgress.objects.get(job_id=job.pk).iterations["rows"]
    assert saved == {"cursor": int(pks[-1]), "items": 1203, "done": True}


def test_an_iteration_interrupted_after_n_items_resumes_after_them_without_using_an_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime, "PAGE_SIZE", 7)  # the interruption and the resume fall mid-page
    pks = rows(50)
    job = dj.visit_rows.enqueue()
    with interrupt_job(after_items=20, each="rows"):
        assert drain_queue(with_recursion=False) == {"interrupted": 1}
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("available", 0)
    progress = JobProgress.objects.get(job_id=job.pk)
    assert progress.iterations["rows"] == {"cursor": int(pks[19]), "items": 20, "done": False}
    assert progress.interruptions == 1
    assert drain_queue() == {"completed": 1}
    job.refresh_from_db()
    assert (job.state, job.attempt, job.result) == ("completed", 1, 30)
    assert visits(job) == Counter(pks)


def test_a_job_interrupted_after_a_step_skips_it_when_it_runs_again() -> None:
    Row.objects.create(n=1)
    job = dj.step_then_rows.enqueue()
    with interrupt_job(after_step="count"):
        assert drain_queue() == {"interrupted": 1, "completed": 1}
    job.refresh_from_db()
    assert job.result == 1
    assert list(visits(job).values()) == [1]


def test_a_job_interrupted_during_a_step_stops_at_its_checkpoint_and_runs_the_step_again() -> None:
    job = dj.long_step.enqueue()
    with interrupt_job(during_step="work"):
        assert drain_queue() == {"interrupted": 1, "completed": 1}
    # One tick before the checkpoint interrupted it, three in the run that finished it.
    assert markers(job, "tick") == 4
    assert markers(job, "after") == 1


def test_a_callable_source_with_a_string_cursor_resumes_at_the_failing_item() -> None:
    job = dj.paged_keys.enqueue(30, fail_at="item-17")
    first = drain_queue()
    assert first == {"retryable": 1}
    saved = JobProgress.objects.get(job_id=job.pk).iterations["keys"]
    # The failing item was not finished: the cursor is the one before it.
    assert saved == {"cursor": "k0016", "items": 17, "done": False}
    Job.objects.filter(pk=job.pk).update(scheduled_at=job.scheduled_at)  # due now
    assert drain_queue(with_scheduled=True) == {"completed": 1}
    seen = visits(job)
    assert set(seen) == {f"item-{i}" for i in range(30)}
    assert set(seen.values()) == {1}


def test_async_aeach_and_astep_resume_after_an_interruption() -> None:
    pks = rows(12)
    job = dj.avisit_rows.enqueue()
    with interrupt_job(after_items=5):
        assert drain_queue() == {"interrupted": 1, "completed": 1}
    job.refresh_from_db()
    assert job.result == 7
    assert visits(job) == Counter(pks)
    assert JobProgress.objects.get(job_id=job.pk).steps == [["label", "rows"]]


def test_aeach_takes_an_async_generator_source() -> None:
    result = perform_job(dj.apaged)
    assert result.value == ["a0", "a1", "a2", "a3", "a4"]


def test_each_in_an_atomic_job_is_refused_saying_why() -> None:
    result = perform_job(dj.atomic_rows)
    assert isinstance(result.exception, StepError)
    assert "its work commits all at once" in str(result.exception)


@pytest.mark.django_db(transaction=True)
def test_a_step_of_an_atomic_job_is_stored_only_if_the_job_completes() -> None:
    from djobs.worker.runner import run_burst

    Row.objects.create(n=1)
    failing = dj.atomic_steps.using(max_attempts=1).enqueue(True)
    passing = dj.atomic_steps.enqueue(False)
    run_burst({"default": 1})
    assert not JobProgress.objects.filter(job_id=failing.pk).exists()
    assert JobProgress.objects.get(job_id=passing.pk).steps == [["count", 1]]


def test_interrupt_job_needs_exactly_one_point() -> None:
    with pytest.raises(ValueError, match="give exactly one of"), interrupt_job():
        pass
    with pytest.raises(ValueError, match="after_items=0"), interrupt_job(after_items=0):
        pass


def test_perform_job_reports_an_interruption_not_a_failure() -> None:
    with interrupt_job(during_step="work"):
        result = perform_job(dj.long_step)
    assert result.interrupted and not result.failed
    assert result.state == "available"


def test_the_heartbeat_thread_flags_a_time_based_checkpoint_and_the_loop_hands_the_cursor_over() -> None:
    from djobs.durable.progress import PendingSaves, Progress

    saves = PendingSaves()
    progress = Progress(Job(path="x", attempt=1), None, None, atomic=False)
    it = progress.iteration("rows")
    saves.watch(progress, it, 5.0)
    deadline = saves.next_deadline()
    assert deadline is not None
    saves.tick(deadline - 1)
    assert not (it.time_due or progress.attention)
    saves.tick(deadline)
    assert it.time_due and progress.attention
    assert saves.next_deadline() == deadline + 5.0
    saves.drop(progress)
    assert saves.next_deadline() is None


def test_a_cursor_json_cannot_store_fails_the_job_at_its_checkpoint_naming_the_iteration() -> None:
    job = dj.bad_cursor.enqueue()
    assert drain_queue() == {"exhausted": 1}
    job.refresh_from_db()
    assert job.errors[-1]["error"].startswith("StepError: ctx.each('things'): the cursor <object object")


def test_a_queryset_loop_the_job_raised_out_of_is_closed_and_resumes_at_the_failing_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    monkeypatch.setattr(runtime, "PAGE_SIZE", 10)  # the failure falls mid-page, a cursor left open
    pks = rows(25)
    job = dj.rows_fail_once.enqueue(13)
    assert drain_queue() == {"retryable": 1, "completed": 1}
    gc.collect()  # nothing left for a collection to close in the middle of the next query
    assert Row.objects.count() == 25
    assert visits(job) == Counter(pks)
    attempts = dict(RowVisit.objects.filter(job_id=job.pk).values_list("row", "attempt"))
    assert (attempts[pks[12]], attempts[pks[13]]) == (1, 2)


def test_a_reversed_queryset_runs_descending_across_pages_and_resumes_after_an_interruption(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime, "PAGE_SIZE", 7)  # three pages, the interruption mid-page
    pks = rows(20)
    job = dj.visit_rows_reversed.enqueue()
    with interrupt_job(after_items=9, each="rows"):
        assert drain_queue(with_recursion=False) == {"interrupted": 1}
    saved = JobProgress.objects.get(job_id=job.pk).iterations["rows"]
    assert saved == {"cursor": int(pks[-9]), "items": 9, "done": False}
    assert drain_queue() == {"completed": 1}
    job.refresh_from_db()
    assert job.result == 11
    assert visits(job) == Counter(pks)


@pytest.mark.parametrize("step", [False, True])
def test_a_step_or_iteration_inside_the_jobs_own_atomic_block_is_refused_naming_the_fix(step: bool) -> None:
    rows(3)
    job = dj.rows_in_user_atomic.enqueue(step=step)
    assert drain_queue() == {"exhausted": 1}
    job.refresh_from_db()
    error = job.errors[-1]["error"]
    what = "ctx.step('one')" if step else "ctx.each('rows')"
    assert f"{what} in job {job.path} runs inside a transaction.atomic() block" in error
    assert "Put the atomic block inside" in error
    assert not RowVisit.objects.filter(job_id=job.pk).exists()


def test_an_atomic_block_inside_the_loop_body_is_allowed() -> None:
    pks = rows(4)
    job = dj.atomic_inside_the_loop.enqueue()
    assert drain_queue() == {"completed": 1}
    assert visits(job) == Counter(pks)


def test_a_callable_source_updating_one_cursor_in_place_resumes_at_the_failing_item() -> None:
    job = dj.mutable_cursor.enqueue(fail_at="item-5")
    assert drain_queue() == {"retryable": 1, "completed": 1}
    assert visits(job) == Counter(f"item-{i}" for i in range(10))


def test_a_batch_that_fails_runs_again_whole_on_the_next_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "PAGE_SIZE", 7)  # batches span pages
    pks = rows(40)
    job = dj.batched_rows.enqueue(size=10, fail_at=25)
    assert drain_queue() == {"retryable": 1, "completed": 1}
    job.refresh_from_db()
    assert job.result == [10, 10]  # the attempt resumed at the failing batch
    assert visits(job) == Counter(pks)
    saved = JobProgress.objects.get(job_id=job.pk).iterations["rows"]
    assert saved == {"cursor": int(pks[-1]), "items": 40, "done": True}


def test_an_interrupted_batch_loop_stops_after_the_current_batch_and_resumes_after_it() -> None:
    pks = rows(40)
    job = dj.batched_rows.enqueue(size=10)
    with interrupt_job(after_items=15, each="rows"):
        assert drain_queue(with_recursion=False) == {"interrupted": 1}
    saved = JobProgress.objects.get(job_id=job.pk).iterations["rows"]
    assert saved == {"cursor": int(pks[19]), "items": 20, "done": False}
    assert drain_queue() == {"completed": 1}
    job.refresh_from_db()
    assert job.result == [10, 10]
    assert visits(job) == Counter(pks)


def test_a_callable_source_in_batches_resumes_at_the_failing_batch() -> None:
    job = dj.batched_keys.enqueue(size=4, fail_at="item-13")
    assert drain_queue() == {"retryable": 1, "completed": 1}
    assert set(visits(job)) == {f"item-{i}" for i in range(25)}
    assert set(visits(job).values()) == {1}


@pytest.mark.parametrize("batch", [0, -1, True, 2.5])
def test_a_batch_size_that_is_not_a_positive_int_is_refused_naming_it(batch: object) -> None:
    result = perform_job(dj.batched_rows, kwargs={"size": batch})
    assert isinstance(result.exception, StepError)
    assert f"ctx.each('rows', batch={batch!r}): pass a number of items" in str(result.exception)


def test_an_iteration_writes_once_per_checkpoint_not_once_per_item(monkeypatch: pytest.MonkeyPatch) -> None:
    from djobs.db.progress import ProgressOps
    from djobs.durable.progress import SAVES

    handed, written = [], []
    hand_over, progress_save = SAVES.hand_over, ProgressOps.progress_save
    monkeypatch.setattr(SAVES, "hand_over", lambda progress: handed.append(1) or hand_over(progress))
    monkeypatch.setattr(
        ProgressOps, "progress_save", lambda ops, **kw: written.append(1) or progress_save(ops, **kw)
    )
    rows(1000)
    job = dj.visit_rows.enqueue(every=100)
    assert drain_queue() == {"completed": 1}
    assert len(handed) == 11  # every 100 items and the end, for the writer thread
    assert len(written) == 1  # the job's own last save (no writer thread runs in drain_queue)
    SAVES.write()
    assert len(written) == 1  # the hand-overs hold what the last save wrote: nothing left to write
    assert JobProgress.objects.get(job_id=job.pk).iterations["rows"]["items"] == 1000


def test_an_operator_retry_of_an_interrupted_then_failed_iteration_resumes_at_the_failing_row() -> None:
    pks = rows(30)
    job = dj.rows_fail_once.using(max_attempts=1).enqueue(fail_at=15)
    with interrupt_job(after_items=10, each="rows"):
        assert drain_queue(with_recursion=False) == {"interrupted": 1}
    assert drain_queue() == {"exhausted": 1}
    assert JobProgress.objects.get(job_id=job.pk).iterations["rows"]["items"] == 15
    assert operations.retry([job.pk]) == 1
    assert drain_queue() == {"completed": 1}
    assert visits(job) == Counter(pks)
