"""The database seam's contract: every public DatabaseOps method, called directly on the real database.

The same file runs on every database djobs supports (DATABASE_URL picks one),
so it asserts only what the seam promises, never how a vendor keeps it. A new
database module starts by making this file pass. Optional abilities are asked
of the capability flags; a test of one the database lacks is skipped.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connections, transaction
from django.utils import timezone

from djobs.db import DatabaseOps, get_ops
from djobs.db.estimates import RowCount, count_rows, estimate_rows
from djobs.db.fragments import MovedJob
from djobs.enqueue import PendingJob
from djobs.models import Batch, Job, WorkerProcess
from djobs.states import ACTIVE_STATES, TERMINAL_STATES, states_mask
from djobs.transitions import Transition, error_entry
from tests.factories import BatchFactory, JobFactory, WorkerProcessFactory

pytestmark = pytest.mark.django_db

KEY = "k" * 64
OTHER_KEY = "o" * 64
QUEUED = states_mask(["available", "scheduled"])
WITH_EXECUTING = states_mask(["available", "executing"])
EXECUTING_ONLY = states_mask(["executing"])


@pytest.fixture
def ops() -> DatabaseOps:
    return get_ops()


def ago(seconds: float) -> datetime:
    return timezone.now() - timedelta(seconds=seconds)


def pending(**fields: Any) -> PendingJob:
    """Return a validated-looking row for job_insert_many/job_insert_one."""
    now = timezone.now()
    values: dict[str, Any] = {
        "path": "tests.testapp.jobs.add",
        "queue": "default",
        "args": [1, 2],
        "kwargs": {},
        "meta": {},
        "tags": [],
        "priority": 0,
        "max_attempts": 20,
        "state": "available",
        "scheduled_at": now,
        "inserted_at": now,
    }
    if fields.get("unique_key") is not None:
        values["unique_states"] = QUEUED  # as enqueue gives a unique job: covered where inserted
    values.update(fields)
    return PendingJob(**values)


def unique_job(key: str = KEY, mask: int = QUEUED, **fields: Any) -> Job:
    """Return a saved job enqueued with ``key`` that still holds it."""
    return JobFactory(unique_key=key, unique_base=key, unique_states=mask, **fields)


def keyless_job(key: str = KEY, mask: int = QUEUED, **fields: Any) -> Job:
    """Return a saved job enqueued with ``key`` whose key was cleared in an uncovered state."""
    return JobFactory(unique_key=None, unique_base=key, unique_states=mask, **fields)


def row(job: Job | int) -> Job:
    return Job.objects.get(pk=job if isinstance(job, int) else job.pk)


def claim(ops: DatabaseOps, *, limit: int = 10, worker_id: str = "w1", queue: str = "default") -> list[Job]:
    return ops.job_claim(queue=queue, limit=limit, worker_id=worker_id, now=timezone.now())


def completed(result: Any = None) -> Transition:
    return Transition("completed", "completed", finished_at=timezone.now(), result=result)


def snoozed(seconds: float = 60) -> Transition:
    return Transition(
        "scheduled", "snoozed", scheduled_at=timezone.now() + timedelta(seconds=seconds), attempt_delta=-1
    )


# -- job_insert_many / job_insert_one ------------------------------------------------


def test_an_insert_returns_one_saved_job_per_row_in_the_order_given(ops: DatabaseOps) -> None:
    rows = [pending(args=[i], queue=f"q{i % 3}", priority=i % 10) for i in range(5)]
    jobs = ops.job_insert_many(rows, chunk_size=2)
    assert [job.args for job in jobs] == [[i] for i in range(5)]
    assert all(job.pk is not None and not job.duplicate for job in jobs)
    assert len({job.pk for job in jobs}) == 5
    stored = {
        pk: (args, queue, priority)
        for pk, args, queue, priority in Job.objects.values_list("id", "args", "queue", "priority")
    }
    assert stored == {job.pk: (job.args, job.queue, job.priority) for job in jobs}


def test_a_large_insert_returns_every_row_in_order_with_its_id(ops: DatabaseOps) -> None:
    rows = [pending(args=[i], kwargs={"n": i}, meta={"m": i}, tags=["t"]) for i in range(120)]
    jobs = ops.job_insert_many(rows, chunk_size=7)
    assert [job.args for job in jobs] == [[i] for i in range(120)]
    stored = dict(Job.objects.values_list("id", "kwargs"))
    assert [stored[job.pk] for job in jobs] == [{"n": i} for i in range(120)]


def test_an_insert_writes_every_field_of_the_row(ops: DatabaseOps) -> None:
    due = timezone.now() + timedelta(hours=1)
    inserted = ago(5)
    [job] = ops.job_insert_many(
        [
            pending(
                path="tests.testapp.jobs.other",
                queue="emails",
                args=["a", {"b": [1, None]}],
                kwargs={"x": 1.5},
                meta={"m": "v"},
                tags=["t1", "t2"],
                priority=7,
                max_attempts=3,
                state="scheduled",
                scheduled_at=due,
                inserted_at=inserted,
            )
        ],
        chunk_size=10,
    )
    stored = row(job)
    assert (stored.path, stored.queue, stored.state, stored.priority) == (
        "tests.testapp.jobs.other",
        "emails",
        "scheduled",
        7,
    )
    assert (stored.args, stored.kwargs, stored.meta, stored.tags) == (
        ["a", {"b": [1, None]}],
        {"x": 1.5},
        {"m": "v"},
        ["t1", "t2"],
    )
    assert (stored.attempt, stored.max_attempts, stored.errors) == (0, 3, [])
    assert (stored.scheduled_at, stored.inserted_at) == (due, inserted)
    assert (stored.unique_key, stored.unique_base, stored.unique_states) == (None, None, 0)


def test_a_unique_row_is_inserted_holding_its_key_and_the_states_it_covers(ops: DatabaseOps) -> None:
    [job] = ops.job_insert_many([pending(unique_key=KEY, unique_states=QUEUED)], chunk_size=10)
    assert not job.duplicate
    stored = row(job)
    assert (stored.unique_key, stored.unique_base, stored.unique_states) == (KEY, KEY, QUEUED)


def test_plain_and_unique_rows_mixed_come_back_in_the_order_given(ops: DatabaseOps) -> None:
    rows = [
        pending(args=[0]),
        pending(args=[1], unique_key=KEY, unique_states=QUEUED),
        pending(args=[2]),
        pending(args=[3], unique_key=OTHER_KEY, unique_states=QUEUED),
    ]
    jobs = ops.job_insert_many(rows, chunk_size=10)
    assert [job.args for job in jobs] == [[0], [1], [2], [3]]
    assert [job.duplicate for job in jobs] == [False] * 4
    assert Job.objects.count() == 4


def test_the_same_key_twice_in_one_call_inserts_once_and_the_second_is_a_duplicate(
    ops: DatabaseOps,
) -> None:
    rows = [
        pending(args=[1], unique_key=KEY, unique_states=QUEUED),
        pending(args=[2]),
        pending(args=[3], unique_key=KEY, unique_states=QUEUED),
    ]
    first, plain, second = ops.job_insert_many(rows, chunk_size=10)
    assert (first.duplicate, plain.duplicate, second.duplicate) == (False, False, True)
    assert second.pk == first.pk
    assert second is not first
    assert Job.objects.filter(unique_key=KEY).count() == 1
    assert row(first).args == [1]


def test_a_key_held_by_an_existing_row_returns_that_row_as_a_duplicate(ops: DatabaseOps) -> None:
    holder = unique_job(args=[9], state="scheduled")
    [fresh, dup] = ops.job_insert_many(
        [pending(args=[1], unique_key=OTHER_KEY), pending(args=[2], unique_key=KEY)], chunk_size=10
    )
    assert (fresh.duplicate, dup.duplicate) == (False, True)
    assert (dup.pk, dup.args, dup.state) == (holder.pk, [9], "scheduled")
    assert Job.objects.count() == 2


def test_a_key_cleared_by_its_holder_admits_a_new_row(ops: DatabaseOps) -> None:
    old = keyless_job(state="completed")
    [job] = ops.job_insert_many([pending(unique_key=KEY, unique_states=QUEUED)], chunk_size=10)
    assert not job.duplicate and job.pk != old.pk
    assert row(job).unique_key == KEY


def test_a_row_inserted_in_a_state_its_key_does_not_cover_blocks_no_duplicate(ops: DatabaseOps) -> None:
    [first] = ops.job_insert_many([pending(unique_key=KEY, unique_states=EXECUTING_ONLY)], chunk_size=10)
    [second] = ops.job_insert_many([pending(unique_key=KEY, unique_states=EXECUTING_ONLY)], chunk_size=10)
    assert not second.duplicate
    assert (row(first).unique_key, row(first).unique_base) == (None, KEY)


def test_a_single_statement_insert_returns_the_saved_job(ops: DatabaseOps) -> None:
    if not ops.supports_single_statement_insert:
        pytest.skip("no single-statement insert on this database")
    job = ops.job_insert_one(pending(args=[4, 5], queue="emails", priority=3), notify=False)
    assert job.pk is not None and not job._state.adding
    stored = row(job)
    assert (stored.args, stored.queue, stored.priority, stored.state) == ([4, 5], "emails", 3, "available")
    assert job.args == stored.args


# -- job_claim --------------------------------------------------------------------------


def test_a_claim_takes_the_highest_priority_first_then_the_longest_due_then_the_oldest(
    ops: DatabaseOps,
) -> None:
    low = JobFactory(priority=5, scheduled_at=ago(30))
    later = JobFactory(priority=0, scheduled_at=ago(10))
    earliest = JobFactory(priority=0, scheduled_at=ago(20))
    same_time = JobFactory(priority=0, scheduled_at=later.scheduled_at)
    first = claim(ops, limit=2)
    assert [job.pk for job in first] == [earliest.pk, later.pk]
    assert [job.pk for job in claim(ops, limit=10)] == [same_time.pk, low.pk]


def test_a_claim_takes_no_more_than_its_limit(ops: DatabaseOps) -> None:
    for _ in range(5):
        JobFactory()
    assert len(claim(ops, limit=2)) == 2
    assert Job.objects.filter(state="executing").count() == 2
    assert Job.objects.filter(state="available").count() == 3


def test_a_claim_takes_only_available_jobs_of_its_queue(ops: DatabaseOps) -> None:
    mine = JobFactory()
    other_queue = JobFactory(queue="emails")
    others = [
        JobFactory(state=state, scheduled_at=ago(60)) for state in ("scheduled", "retryable", "completed")
    ]
    running = JobFactory(state="executing", worker_id="w0", attempt=1)
    assert [job.pk for job in claim(ops)] == [mine.pk]
    assert row(other_queue).state == "available"
    assert [row(job).state for job in others] == ["scheduled", "retryable", "completed"]
    assert (row(running).worker_id, row(running).attempt) == ("w0", 1)
    assert claim(ops) == []


def test_a_claimed_job_is_executing_under_the_worker_with_one_more_attempt_and_not_started(
    ops: DatabaseOps,
) -> None:
    job = JobFactory(attempt=2, attempted_at=ago(100), args=[3], kwargs={"k": [1]}, meta={"m": 1})
    [claimed] = claim(ops, worker_id="w7")
    assert (claimed.pk, claimed.state, claimed.attempt, claimed.worker_id) == (job.pk, "executing", 3, "w7")
    assert claimed.attempted_at is None
    assert (claimed.args, claimed.kwargs, claimed.meta) == ([3], {"k": [1]}, {"m": 1})
    assert (claimed.queue, claimed.path, claimed.priority, claimed.max_attempts) == (
        job.queue,
        job.path,
        job.priority,
        job.max_attempts,
    )
    assert claimed.scheduled_at == job.scheduled_at
    stored = row(job)
    assert (stored.state, stored.attempt, stored.worker_id, stored.attempted_at) == (
        "executing",
        3,
        "w7",
        None,
    )


def test_a_claimed_job_loads_the_fields_left_out_of_the_claim_when_read(ops: DatabaseOps) -> None:
    JobFactory(errors=[{"error": "before"}], tags=["t"])
    [claimed] = claim(ops)
    assert claimed.errors == [{"error": "before"}]
    assert claimed.tags == ["t"]


def test_a_claim_clears_the_key_when_executing_is_not_covered_and_keeps_it_when_it_is(
    ops: DatabaseOps,
) -> None:
    uncovered = unique_job(KEY, QUEUED, scheduled_at=ago(2))
    covered = unique_job(OTHER_KEY, WITH_EXECUTING, scheduled_at=ago(1))
    claim(ops)
    assert row(uncovered).unique_key is None
    assert row(uncovered).unique_base == KEY
    assert row(covered).unique_key == OTHER_KEY


def test_a_claim_gives_the_key_back_when_executing_is_covered_and_the_key_is_free(ops: DatabaseOps) -> None:
    job = keyless_job(KEY, EXECUTING_ONLY)
    claim(ops)
    assert row(job).unique_key == KEY


# -- job_stage --------------------------------------------------------------------------


def test_staging_makes_due_scheduled_and_retryable_jobs_available_and_counts_them_per_queue(
    ops: DatabaseOps,
) -> None:
    due = JobFactory(state="scheduled", scheduled_at=ago(1))
    retry = JobFactory(state="retryable", scheduled_at=ago(1), queue="emails")
    retry_too = JobFactory(state="retryable", scheduled_at=ago(2), queue="emails")
    assert ops.job_stage(now=timezone.now(), limit=10) == {"default": 1, "emails": 2}
    assert {row(job).state for job in (due, retry, retry_too)} == {"available"}
    assert row(due).scheduled_at == due.scheduled_at


def test_staging_leaves_jobs_not_yet_due_and_jobs_in_other_states(ops: DatabaseOps) -> None:
    future = JobFactory(state="scheduled", scheduled_at=ago(-3600))
    others = {state: JobFactory(state=state, scheduled_at=ago(60)) for state in ("executing", "completed")}
    assert ops.job_stage(now=timezone.now(), limit=10) == {}
    assert row(future).state == "scheduled"
    assert {state: row(job).state for state, job in others.items()} == {s: s for s in others}


def test_staging_takes_no_more_than_its_limit_the_longest_due_first(ops: DatabaseOps) -> None:
    newest = JobFactory(state="scheduled", scheduled_at=ago(10))
    oldest = JobFactory(state="scheduled", scheduled_at=ago(30))
    middle = JobFactory(state="retryable", scheduled_at=ago(20))
    assert ops.job_stage(now=timezone.now(), limit=2) == {"default": 2}
    assert (row(oldest).state, row(middle).state, row(newest).state) == (
        "available",
        "available",
        "scheduled",
    )


def test_staging_applies_the_key_rule_of_the_available_state(ops: DatabaseOps) -> None:
    scheduled_only = states_mask(["scheduled"])
    leaving = unique_job(KEY, scheduled_only, state="scheduled", scheduled_at=ago(1))
    returning = keyless_job(OTHER_KEY, states_mask(["available"]), state="retryable", scheduled_at=ago(1))
    ops.job_stage(now=timezone.now(), limit=10)
    assert row(leaving).unique_key is None
    assert row(returning).unique_key == OTHER_KEY


# -- job_mark_started -------------------------------------------------------------------


def test_marking_started_writes_the_start_time_of_each_job(ops: DatabaseOps) -> None:
    JobFactory()
    JobFactory()
    claimed = claim(ops)
    starts = [ago(3), ago(2)]
    for job, at in zip(claimed, starts, strict=True):
        job.attempted_at = at
    ops.job_mark_started(worker_id="w1", started=claimed)
    assert [row(job).attempted_at for job in claimed] == starts


def test_marking_started_is_fenced_on_the_worker(ops: DatabaseOps) -> None:
    JobFactory()
    [job] = claim(ops, worker_id="w1")
    job.attempted_at = timezone.now()
    ops.job_mark_started(worker_id="w2", started=[job])
    assert row(job).attempted_at is None


def test_marking_started_is_fenced_on_the_attempt(ops: DatabaseOps) -> None:
    JobFactory()
    [job] = claim(ops)
    job.attempt = 5
    job.attempted_at = timezone.now()
    ops.job_mark_started(worker_id="w1", started=[job])
    assert row(job).attempted_at is None


def test_marking_started_leaves_a_job_that_is_no_longer_executing(ops: DatabaseOps) -> None:
    JobFactory()
    [job] = claim(ops)
    Job.objects.filter(pk=job.pk).update(state="cancelled")
    job.attempted_at = timezone.now()
    ops.job_mark_started(worker_id="w1", started=[job])
    assert row(job).attempted_at is None


# -- job_record_outcomes ----------------------------------------------------------------


def test_an_outcome_is_written_and_its_job_reported_held(ops: DatabaseOps) -> None:
    JobFactory()
    [job] = claim(ops)
    done = completed({"total": [1, "two"]})
    assert ops.job_record_outcomes(worker_id="w1", outcomes=[(job, done)]) == {job.pk}
    stored = row(job)
    assert (stored.state, stored.finished_at, stored.result, stored.attempt) == (
        "completed",
        done.finished_at,
        {"total": [1, "two"]},
        1,
    )


@pytest.mark.parametrize("result", ["done", 3, [1, 2], None])
def test_a_result_is_stored_as_given(ops: DatabaseOps, result: Any) -> None:
    JobFactory()
    [job] = claim(ops)
    ops.job_record_outcomes(worker_id="w1", outcomes=[(job, completed(result))])
    assert row(job).result == result


def test_an_outcome_from_another_worker_is_not_held(ops: DatabaseOps) -> None:
    JobFactory()
    [job] = claim(ops, worker_id="w1")
    assert ops.job_record_outcomes(worker_id="w2", outcomes=[(job, completed(1))]) == set()
    stored = row(job)
    assert (stored.state, stored.result, stored.worker_id) == ("executing", None, "w1")


def test_an_outcome_of_an_older_attempt_is_not_held(ops: DatabaseOps) -> None:
    JobFactory()
    [first] = claim(ops)
    Job.objects.filter(pk=first.pk).update(state="available")
    [second] = claim(ops)
    assert ops.job_record_outcomes(worker_id="w1", outcomes=[(first, completed("old"))]) == set()
    assert row(first).state == "executing"
    assert ops.job_record_outcomes(worker_id="w1", outcomes=[(second, completed("new"))]) == {second.pk}
    assert row(second).result == "new"


def test_an_outcome_of_a_job_no_longer_executing_is_not_held(ops: DatabaseOps) -> None:
    JobFactory()
    [job] = claim(ops)
    Job.objects.filter(pk=job.pk).update(state="cancelled", finished_at=timezone.now())
    assert ops.job_record_outcomes(worker_id="w1", outcomes=[(job, completed(1))]) == set()
    assert (row(job).state, row(job).result) == ("cancelled", None)


def test_outcomes_written_together_report_exactly_the_ones_that_held(ops: DatabaseOps) -> None:
    for _ in range(4):
        JobFactory()
    a, b, c, d = claim(ops)
    Job.objects.filter(pk=b.pk).update(state="cancelled")
    c.attempt = 9
    held = ops.job_record_outcomes(
        worker_id="w1", outcomes=[(job, completed(job.pk)) for job in (a, b, c, d)]
    )
    assert held == {a.pk, d.pk}
    assert [row(job).result for job in (a, b, c, d)] == [a.pk, None, None, d.pk]


def test_a_snooze_gives_the_attempt_back_and_moves_the_due_time(ops: DatabaseOps) -> None:
    JobFactory(attempt=2)
    [job] = claim(ops)
    snooze = snoozed(60)
    ops.job_record_outcomes(worker_id="w1", outcomes=[(job, snooze)])
    stored = row(job)
    assert (stored.state, stored.attempt, stored.scheduled_at) == ("scheduled", 2, snooze.scheduled_at)


def test_an_outcome_without_a_due_time_leaves_it_unchanged(ops: DatabaseOps) -> None:
    due = ago(30)
    JobFactory(scheduled_at=due)
    [job] = claim(ops)
    ops.job_record_outcomes(worker_id="w1", outcomes=[(job, completed())])
    assert row(job).scheduled_at == due


def test_an_outcome_writes_the_start_time_its_job_carries(ops: DatabaseOps) -> None:
    JobFactory()
    [job] = claim(ops)
    job.attempted_at = ago(2)  # started, but the start was not written yet
    ops.job_record_outcomes(worker_id="w1", outcomes=[(job, completed())])
    assert row(job).attempted_at == job.attempted_at


def test_an_outcome_keeps_a_start_time_already_written(ops: DatabaseOps) -> None:
    JobFactory()
    [job] = claim(ops)
    job.attempted_at = ago(2)
    ops.job_mark_started(worker_id="w1", started=[job])
    started = job.attempted_at
    job.attempted_at = None
    ops.job_record_outcomes(worker_id="w1", outcomes=[(job, completed())])
    assert row(job).attempted_at == started


def test_an_error_entry_is_appended_to_the_errors_already_kept(ops: DatabaseOps) -> None:
    JobFactory(errors=[{"attempt": 0, "error": "earlier"}])
    [job] = claim(ops)
    now = timezone.now()
    entry = error_entry(1, now, "ValueError: bad", "Traceback ...", exception="builtins.ValueError")
    failed = Transition("retryable", "retryable", scheduled_at=now + timedelta(seconds=5), error=entry)
    ops.job_record_outcomes(worker_id="w1", outcomes=[(job, failed)])
    stored = row(job)
    assert stored.state == "retryable"
    assert stored.errors == [{"attempt": 0, "error": "earlier"}, entry]


def test_an_outcome_without_an_error_leaves_the_errors_alone(ops: DatabaseOps) -> None:
    JobFactory(errors=[{"error": "earlier"}])
    [job] = claim(ops)
    ops.job_record_outcomes(worker_id="w1", outcomes=[(job, completed())])
    assert row(job).errors == [{"error": "earlier"}]


def test_an_outcome_clears_the_key_in_a_state_not_covered(ops: DatabaseOps) -> None:
    unique_job(KEY, WITH_EXECUTING)
    [job] = claim(ops)
    ops.job_record_outcomes(worker_id="w1", outcomes=[(job, completed())])
    assert row(job).unique_key is None


def test_an_outcome_keeps_the_key_in_a_covered_state(ops: DatabaseOps) -> None:
    unique_job(KEY, states_mask(["available", "executing", "completed"]))
    [job] = claim(ops)
    ops.job_record_outcomes(worker_id="w1", outcomes=[(job, completed())])
    assert row(job).unique_key == KEY


def test_an_outcome_returning_to_a_covered_state_takes_the_key_back(ops: DatabaseOps) -> None:
    unique_job(KEY, QUEUED)
    [job] = claim(ops)
    assert row(job).unique_key is None
    assert ops.job_record_outcomes(worker_id="w1", outcomes=[(job, snoozed())]) == {job.pk}
    assert row(job).unique_key == KEY


def test_an_outcome_returning_to_a_covered_state_leaves_a_key_taken_meanwhile(ops: DatabaseOps) -> None:
    unique_job(KEY, QUEUED)
    [job] = claim(ops)
    holder = unique_job(KEY, QUEUED, state="scheduled")
    assert ops.job_record_outcomes(worker_id="w1", outcomes=[(job, snoozed())]) == {job.pk}
    assert (row(job).state, row(job).unique_key) == ("scheduled", None)
    assert row(holder).unique_key == KEY


# -- job_rescue -------------------------------------------------------------------------


def executing(worker_id: str | None, *, attempt: int = 1, started: bool = True, **fields: Any) -> Job:
    return JobFactory(
        state="executing",
        worker_id=worker_id,
        attempt=attempt,
        attempted_at=ago(5) if started else None,
        **fields,
    )


def test_a_rescue_gives_back_the_jobs_of_workers_with_no_registry_row(ops: DatabaseOps) -> None:
    WorkerProcessFactory(id="alive")
    lost = executing("gone", max_attempts=3, scheduled_at=ago(100))
    kept = executing("alive")
    now = timezone.now()
    moved = ops.job_rescue(now=now, exclude_worker="me")
    assert [m.id for m in moved] == [lost.pk]
    stored = row(lost)
    assert (stored.state, stored.worker_id, stored.scheduled_at, stored.finished_at) == (
        "available",
        None,
        now,
        None,
    )
    assert (row(kept).state, row(kept).worker_id) == ("executing", "alive")


def test_a_rescue_never_takes_the_jobs_of_the_excluded_worker(ops: DatabaseOps) -> None:
    mine = executing("me")  # no registry row, as if this worker was presumed dead by another
    assert ops.job_rescue(now=timezone.now(), exclude_worker="me") == []
    assert (row(mine).state, row(mine).worker_id) == ("executing", "me")


def test_a_rescue_takes_an_executing_job_held_by_no_worker_at_all(ops: DatabaseOps) -> None:
    nobody = executing(None)
    [moved] = ops.job_rescue(now=timezone.now(), exclude_worker="me")
    assert (moved.id, moved.state) == (nobody.pk, "available")
    assert row(nobody).errors[-1]["error"].startswith("WorkerLost: worker (none) ")


def test_a_rescue_leaves_jobs_of_a_lost_worker_that_are_not_executing(ops: DatabaseOps) -> None:
    done = JobFactory(state="completed", worker_id="gone", attempt=1, finished_at=ago(1))
    assert ops.job_rescue(now=timezone.now(), exclude_worker="me") == []
    assert row(done).state == "completed"


def test_a_rescued_job_that_started_keeps_its_attempt(ops: DatabaseOps) -> None:
    job = executing("gone", attempt=2, max_attempts=3)
    ops.job_rescue(now=timezone.now(), exclude_worker="me")
    assert (row(job).state, row(job).attempt) == ("available", 2)


def test_a_rescued_job_that_started_on_its_last_attempt_is_discarded(ops: DatabaseOps) -> None:
    job = executing("gone", attempt=3, max_attempts=3)
    now = timezone.now()
    [moved] = ops.job_rescue(now=now, exclude_worker="me")
    assert moved.state == "discarded"
    assert (row(job).state, row(job).attempt, row(job).finished_at) == ("discarded", 3, now)


def test_a_rescued_job_that_never_started_gets_its_attempt_back_even_on_its_last(ops: DatabaseOps) -> None:
    job = executing("gone", attempt=3, max_attempts=3, started=False)
    [moved] = ops.job_rescue(now=timezone.now(), exclude_worker="me")
    assert moved.state == "available"
    assert (row(job).state, row(job).attempt, row(job).finished_at) == ("available", 2, None)


def test_a_rescue_appends_an_entry_saying_whether_the_job_had_started(ops: DatabaseOps) -> None:
    ran = executing("gone", attempt=2, errors=[{"error": "earlier"}])
    waited = executing("gone", attempt=1, started=False)
    now = timezone.now()
    ops.job_rescue(now=now, exclude_worker="me")
    common = {"at": now.isoformat(), "traceback": None, "exception": "djobs.exceptions.WorkerLost"}
    assert row(ran).errors == [
        {"error": "earlier"},
        {
            **common,
            "attempt": 2,
            "worker_id": "gone",
            "given_back": None,
            "error": "WorkerLost: worker gone stopped heartbeating while running this attempt; "
            "the job was rescued",
        },
    ]
    assert row(waited).errors == [
        {
            **common,
            "attempt": 1,
            "worker_id": "gone",
            "given_back": 1,
            "error": "WorkerLost: worker gone stopped heartbeating before this job started: it was "
            "claimed but never started, so the attempt is not counted; the job was rescued",
        }
    ]


def test_an_attempt_rescued_unstarted_a_second_time_counts_so_a_worker_killer_runs_out(
    ops: DatabaseOps,
) -> None:
    # A start is written ~100 ms after it happens: a job that kills its worker sooner looks
    # unstarted. Each attempt number is given back once; the second time it counts.
    job = executing("gone", attempt=1, max_attempts=1, started=False)
    ops.job_rescue(now=timezone.now(), exclude_worker="me")
    assert (row(job).state, row(job).attempt) == ("available", 0)
    Job.objects.filter(pk=job.pk).update(state="executing", attempt=1, worker_id="gone")
    [moved] = ops.job_rescue(now=timezone.now(), exclude_worker="me")
    assert (moved.state, row(job).attempt) == ("discarded", 1)
    last = row(job).errors[-1]
    assert (last["given_back"], "the second time at this attempt" in last["error"]) == (None, True)


def test_a_rescue_returns_each_moved_job_with_its_queue_meta_and_key_rule(ops: DatabaseOps) -> None:
    plain = executing("gone", queue="emails", meta={"batch_id": "b1", "n": [1]})
    returning = executing("gone", unique_key=None, unique_base=KEY, unique_states=QUEUED)
    moved = ops.job_rescue(now=timezone.now(), exclude_worker="me")
    assert all(isinstance(m, MovedJob) for m in moved)
    assert sorted(moved) == [
        MovedJob(plain.pk, "available", "emails", {"batch_id": "b1", "n": [1]}, False),
        MovedJob(returning.pk, "available", "default", {}, True),
    ]
    assert row(returning).unique_key == KEY


def test_a_rescued_job_discarded_keeps_its_key_only_where_discarded_is_covered(ops: DatabaseOps) -> None:
    covers = states_mask(["executing", "discarded"])
    kept = executing("gone", attempt=1, max_attempts=1, unique_key=KEY, unique_base=KEY, unique_states=covers)
    cleared = executing(
        "gone",
        attempt=1,
        max_attempts=1,
        unique_key=OTHER_KEY,
        unique_base=OTHER_KEY,
        unique_states=EXECUTING_ONLY,
    )
    ops.job_rescue(now=timezone.now(), exclude_worker="me")
    assert (row(kept).state, row(kept).unique_key) == ("discarded", KEY)
    assert (row(cleared).state, row(cleared).unique_key) == ("discarded", None)


# -- job_release ------------------------------------------------------------------------


def test_a_release_hands_back_the_jobs_named_that_run_under_the_worker(ops: DatabaseOps) -> None:
    for _ in range(3):
        JobFactory(queue="q", meta={"m": 1})
    a, b, c = claim(ops, queue="q")
    now = timezone.now()
    moved = ops.job_release(worker_id="w1", jobs=[(a.pk, a.attempt), (b.pk, b.attempt)], now=now, reason="r")
    assert sorted(moved) == [
        MovedJob(a.pk, "available", "q", {"m": 1}, False),
        MovedJob(b.pk, "available", "q", {"m": 1}, False),
    ]
    assert (row(a).worker_id, row(a).scheduled_at, row(a).attempt) == (None, now, 0)
    assert row(c).state == "executing"


def test_a_release_is_fenced_on_the_attempt_named(ops: DatabaseOps) -> None:
    JobFactory()
    [job] = claim(ops)
    assert ops.job_release(worker_id="w1", jobs=[(job.pk, 7)], now=timezone.now(), reason="r") == []
    assert row(job).state == "executing"


def test_a_release_is_fenced_on_the_worker(ops: DatabaseOps) -> None:
    JobFactory()
    [job] = claim(ops, worker_id="w1")
    assert ops.job_release(worker_id="w2", jobs=[(job.pk, job.attempt)], now=timezone.now(), reason="r") == []
    assert (row(job).state, row(job).worker_id) == ("executing", "w1")


def test_a_release_leaves_a_job_that_is_no_longer_executing(ops: DatabaseOps) -> None:
    JobFactory()
    [job] = claim(ops)
    Job.objects.filter(pk=job.pk).update(state="cancelled")
    assert ops.job_release(worker_id="w1", jobs=[(job.pk, job.attempt)], now=timezone.now(), reason="r") == []
    assert row(job).state == "cancelled"


def test_a_released_job_that_started_keeps_its_attempt_and_is_discarded_on_its_last(
    ops: DatabaseOps,
) -> None:
    more = executing("w1", attempt=1, max_attempts=2)
    last = executing("w1", attempt=2, max_attempts=2)
    now = timezone.now()
    moved = ops.job_release(worker_id="w1", jobs=[(more.pk, 1), (last.pk, 2)], now=now, reason="r")
    assert {m.id: m.state for m in moved} == {more.pk: "available", last.pk: "discarded"}
    assert (row(more).attempt, row(more).finished_at) == (1, None)
    assert (row(last).attempt, row(last).finished_at) == (2, now)


def test_a_released_job_that_never_started_gets_its_attempt_back(ops: DatabaseOps) -> None:
    job = executing("w1", attempt=2, max_attempts=2, started=False)
    [moved] = ops.job_release(worker_id="w1", jobs=[(job.pk, 2)], now=timezone.now(), reason="r")
    assert moved.state == "available"
    assert row(job).attempt == 1


def test_a_release_appends_an_entry_completing_worker_id_with_the_reason(ops: DatabaseOps) -> None:
    ran = executing("w1", attempt=1, max_attempts=5)
    waited = executing("w1", attempt=1, started=False)
    now = timezone.now()
    ops.job_release(worker_id="w1", jobs=[(ran.pk, 1), (waited.pk, 1)], now=now, reason="is shutting down")
    common = {
        "at": now.isoformat(),
        "attempt": 1,
        "traceback": None,
        "worker_id": "w1",
        "exception": "djobs.exceptions.WorkerReleased",
    }
    assert row(ran).errors == [
        {
            **common,
            "given_back": None,
            "error": "WorkerReleased: worker w1 is shutting down; "
            "the attempt counts and the job will run again",
        }
    ]
    assert row(waited).errors == [
        {
            **common,
            "given_back": 1,
            "error": "WorkerReleased: worker w1 is shutting down; it was claimed but never started, "
            "so the attempt is not counted",
        }
    ]


def test_a_released_job_takes_its_key_back_where_available_is_covered(ops: DatabaseOps) -> None:
    unique_job(KEY, QUEUED)
    [job] = claim(ops)
    [moved] = ops.job_release(worker_id="w1", jobs=[(job.pk, job.attempt)], now=timezone.now(), reason="r")
    assert moved.rekey
    assert row(job).unique_key == KEY


@pytest.mark.django_db(transaction=True)
def test_a_release_waits_for_a_row_another_transaction_has_locked_and_hands_it_back(
    ops: DatabaseOps,
) -> None:
    # Another locking scan can hold the row a moment: on MariaDB, late rate-limited
    # jobs given back at once by the same worker's threads each scanned the whole
    # small table. Skipping the row left the job executing under this live worker,
    # held by nobody, until orphan repair (two RESCUE_AFTER rounds).
    JobFactory()
    [job] = claim(ops)
    locked = threading.Event()

    def hold_the_row() -> None:
        try:
            with transaction.atomic():
                list(Job.objects.select_for_update().filter(pk=job.pk))
                locked.set()
                time.sleep(0.5)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(10)
        moved = ops.job_release(worker_id="w1", jobs=[(job.pk, job.attempt)], now=timezone.now(), reason="r")
    finally:
        holder.join(30)
    assert [m.id for m in moved] == [job.pk]
    assert (row(job).state, row(job).worker_id, row(job).attempt) == ("available", None, 0)


# -- job_list_executing / job_restore_unique -------------------------------------------------


def test_listing_executing_jobs_gives_the_id_and_attempt_of_each_under_the_worker(ops: DatabaseOps) -> None:
    a = executing("w1", attempt=1)
    b = executing("w1", attempt=4)
    executing("w2")
    JobFactory(state="completed", worker_id="w1", attempt=1)
    assert ops.job_list_executing(worker_id="w1") == {(a.pk, 1), (b.pk, 4)}
    assert ops.job_list_executing(worker_id="w3") == set()


def test_restoring_a_free_key_gives_it_back_and_counts_it(ops: DatabaseOps) -> None:
    job = keyless_job(KEY, QUEUED, state="scheduled")
    assert ops.job_restore_unique([job.pk]) == 1
    assert row(job).unique_key == KEY


def test_restoring_a_key_taken_meanwhile_leaves_it_with_its_holder_without_error(ops: DatabaseOps) -> None:
    job = keyless_job(KEY, QUEUED)
    free = keyless_job(OTHER_KEY, QUEUED)
    holder = unique_job(KEY, QUEUED)
    assert ops.job_restore_unique([job.pk, free.pk]) == 1
    assert (row(job).unique_key, row(holder).unique_key, row(free).unique_key) == (None, KEY, OTHER_KEY)
    assert Job.objects.count() == 3


def test_restoring_leaves_a_job_in_a_state_its_key_does_not_cover(ops: DatabaseOps) -> None:
    job = keyless_job(KEY, QUEUED, state="completed")
    plain = JobFactory()
    assert ops.job_restore_unique([job.pk, plain.pk]) == 0
    assert row(job).unique_key is None
    assert row(plain).unique_key is None


# -- job_delete_finished ----------------------------------------------------------------


def test_deleting_finished_jobs_removes_only_that_state_finished_before_the_cutoff(ops: DatabaseOps) -> None:
    cutoff = ago(3600)
    old = [JobFactory(state="completed", finished_at=ago(7200)) for _ in range(3)]
    at_cutoff = JobFactory(state="completed", finished_at=cutoff)
    recent = JobFactory(state="completed", finished_at=ago(10))
    discarded = JobFactory(state="discarded", finished_at=ago(7200))
    waiting = JobFactory(state="available")
    assert ops.job_delete_finished(state="completed", before=cutoff, limit=100) == 3
    remaining = set(Job.objects.values_list("id", flat=True))
    assert remaining == {at_cutoff.pk, recent.pk, discarded.pk, waiting.pk}
    assert not remaining & {job.pk for job in old}


def test_deleting_finished_jobs_takes_no_more_than_its_limit(ops: DatabaseOps) -> None:
    for _ in range(5):
        JobFactory(state="cancelled", finished_at=ago(100))
    counts = [ops.job_delete_finished(state="cancelled", before=timezone.now(), limit=2) for _ in range(4)]
    assert counts == [2, 2, 1, 0]
    assert not Job.objects.exists()


def test_deleting_finished_jobs_keeps_the_jobs_of_a_batch_that_is_not_finished(ops: DatabaseOps) -> None:
    running = BatchFactory(state="running")
    still_open = BatchFactory(state="open")
    done = BatchFactory(state="finished")

    def finished_in(batch_id: str) -> Job:
        return JobFactory(state="completed", finished_at=ago(100), meta={"batch_id": batch_id})

    kept = [finished_in(str(running.id)), finished_in(str(still_open.id))]
    gone = [
        finished_in(str(done.id)),
        finished_in(str(uuid.uuid4())),
        JobFactory(state="completed", finished_at=ago(100)),
    ]
    assert ops.job_delete_finished(state="completed", before=timezone.now(), limit=100) == 3
    assert set(Job.objects.values_list("id", flat=True)) == {job.pk for job in kept}
    assert not Job.objects.filter(pk__in=[job.pk for job in gone]).exists()


# -- workers ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_registering_a_worker_inserts_its_row(ops: DatabaseOps) -> None:
    now = timezone.now()
    ops.worker_register(worker_id="w1", hostname="h1", pid=11, queues={"default": 4}, now=now)
    stored = WorkerProcess.objects.get(id="w1")
    assert (stored.hostname, stored.pid, stored.queues, stored.started_at) == ("h1", 11, {"default": 4}, now)
    assert "w1" in ops.worker_heartbeats()


@pytest.mark.django_db(transaction=True)
def test_registering_again_refreshes_the_row(ops: DatabaseOps) -> None:
    ops.worker_register(worker_id="w1", hostname="h1", pid=11, queues={"a": 1}, now=ago(60))
    now = timezone.now()
    ops.worker_register(worker_id="w1", hostname="h2", pid=22, queues={"b": 2}, now=now)
    stored = WorkerProcess.objects.get(id="w1")
    assert (stored.hostname, stored.pid, stored.queues, stored.started_at) == ("h2", 22, {"b": 2}, now)
    assert WorkerProcess.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_changes_the_value_rescuers_watch_and_says_the_row_was_there(ops: DatabaseOps) -> None:
    WorkerProcessFactory(id="w1", heartbeat_at=ago(3600 * 24 * 365))
    before = ops.worker_heartbeats()["w1"]
    assert ops.worker_heartbeat(worker_id="w1", hostname="h", pid=1, queues={}, now=timezone.now()) is True
    assert ops.worker_heartbeats()["w1"] != before
    assert abs((WorkerProcess.objects.get(id="w1").heartbeat_at - timezone.now()).total_seconds()) < 60


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_re_registers_a_deleted_row_and_says_it_was_gone(ops: DatabaseOps) -> None:
    assert (
        ops.worker_heartbeat(worker_id="w1", hostname="h", pid=5, queues={"q": 1}, now=timezone.now())
        is False
    )
    stored = WorkerProcess.objects.get(id="w1")
    assert (stored.hostname, stored.pid, stored.queues) == ("h", 5, {"q": 1})


@pytest.mark.django_db(transaction=True)
def test_heartbeat_values_name_every_registered_worker_and_hold_still_between_beats(
    ops: DatabaseOps,
) -> None:
    WorkerProcessFactory(id="w1")
    WorkerProcessFactory(id="w2")
    first = ops.worker_heartbeats()
    assert set(first) == {"w1", "w2"}
    assert ops.worker_heartbeats() == first


@pytest.mark.django_db(transaction=True)
def test_deleting_unchanged_workers_removes_only_those_whose_heartbeat_stood_still(
    ops: DatabaseOps,
) -> None:
    old = ago(3600)
    for worker_id in ("still", "beating"):
        WorkerProcessFactory(id=worker_id, heartbeat_at=old)
    watched = ops.worker_heartbeats()
    ops.worker_heartbeat(worker_id="beating", hostname="h", pid=1, queues={}, now=timezone.now())
    assert ops.worker_delete_unchanged(heartbeats={**watched, "unknown": watched["still"]}) == ["still"]
    assert set(WorkerProcess.objects.values_list("id", flat=True)) == {"beating"}


@pytest.mark.django_db(transaction=True)
def test_unregistering_deletes_only_that_worker(ops: DatabaseOps) -> None:
    WorkerProcessFactory(id="w1")
    WorkerProcessFactory(id="w2")
    ops.worker_unregister(worker_id="w1")
    assert set(ops.worker_heartbeats()) == {"w2"}
    ops.worker_unregister(worker_id="w1")  # already gone: no error


# -- batches ------------------------------------------------------------------------------


def in_batch(batch: Batch, state: str, **fields: Any) -> Job:
    return JobFactory(state=state, meta={"batch_id": str(batch.id)}, **fields)


@pytest.mark.parametrize("state", sorted(ACTIVE_STATES))
def test_a_batch_with_a_job_in_an_active_state_has_active_jobs(ops: DatabaseOps, state: str) -> None:
    batch = BatchFactory(state="running")
    in_batch(batch, "completed")
    in_batch(batch, state)
    assert ops.batch_has_active_jobs(key=str(batch.id)) is True


def test_a_batch_whose_jobs_are_all_terminal_has_no_active_jobs(ops: DatabaseOps) -> None:
    batch = BatchFactory(state="running")
    other = BatchFactory(state="running")
    for state in sorted(TERMINAL_STATES):
        in_batch(batch, state)
    in_batch(other, "available")
    JobFactory(state="available")
    assert ops.batch_has_active_jobs(key=str(batch.id)) is False
    assert ops.batch_has_active_jobs(key=str(uuid.uuid4())) is False


def finish(ops: DatabaseOps, batch: Batch, now: datetime | None = None) -> bool:
    with transaction.atomic(using=ops.alias):
        return ops.batch_finish(batch_id=batch.id, key=str(batch.id), now=now or timezone.now())


def test_a_running_batch_with_no_active_job_is_finished_once(ops: DatabaseOps) -> None:
    batch = BatchFactory(state="running")
    in_batch(batch, "completed")
    in_batch(batch, "discarded")
    now = timezone.now()
    assert finish(ops, batch, now) is True
    assert finish(ops, batch) is False
    stored = Batch.objects.get(pk=batch.pk)
    assert (stored.state, stored.finished_at) == ("finished", now)


def test_a_batch_with_an_active_job_is_not_finished(ops: DatabaseOps) -> None:
    batch = BatchFactory(state="running")
    in_batch(batch, "completed")
    in_batch(batch, "retryable", scheduled_at=ago(-60))
    assert finish(ops, batch) is False
    assert Batch.objects.get(pk=batch.pk).state == "running"


def test_a_batch_not_yet_sealed_is_not_finished(ops: DatabaseOps) -> None:
    batch = BatchFactory(state="open")
    in_batch(batch, "completed")
    assert finish(ops, batch) is False
    assert Batch.objects.get(pk=batch.pk).state == "open"


def test_an_empty_running_batch_is_finished(ops: DatabaseOps) -> None:
    batch = BatchFactory(state="running")
    assert finish(ops, batch) is True


# -- operator actions -----------------------------------------------------------------------


def selected(*jobs: Job) -> Any:
    return Job.objects.filter(pk__in=[job.pk for job in jobs])


def test_a_retry_makes_the_selected_jobs_available_now_and_only_those(ops: DatabaseOps) -> None:
    failed = JobFactory(
        state="discarded", attempt=2, max_attempts=5, finished_at=ago(10), scheduled_at=ago(60)
    )
    done = JobFactory(state="completed", attempt=1, finished_at=ago(10))
    untouched = JobFactory(state="discarded", finished_at=ago(10))
    now = timezone.now()
    assert ops.job_retry(selected(failed, done), now=now) == 2
    for job in (failed, done):
        stored = row(job)
        assert (stored.state, stored.scheduled_at, stored.finished_at) == ("available", now, None)
    assert row(failed).max_attempts == 5
    assert row(untouched).state == "discarded"


def test_a_retry_gives_a_job_with_no_attempt_left_one_more(ops: DatabaseOps) -> None:
    exhausted = JobFactory(state="discarded", attempt=3, max_attempts=3, errors=[{"error": "x"}])
    ops.job_retry(selected(exhausted), now=timezone.now())
    stored = row(exhausted)
    assert (stored.attempt, stored.max_attempts, stored.errors) == (3, 4, [{"error": "x"}])


def test_a_retry_gives_the_key_back_where_it_is_free(ops: DatabaseOps) -> None:
    free = keyless_job(KEY, QUEUED, state="discarded")
    taken = keyless_job(OTHER_KEY, QUEUED, state="cancelled")
    holder = unique_job(OTHER_KEY, QUEUED)
    assert ops.job_retry(selected(free, taken), now=timezone.now()) == 2
    assert (row(free).unique_key, row(taken).unique_key, row(holder).unique_key) == (KEY, None, OTHER_KEY)


def test_a_retry_clears_a_key_its_job_does_not_hold_when_available(ops: DatabaseOps) -> None:
    job = unique_job(KEY, states_mask(["completed"]), state="completed")
    ops.job_retry(selected(job), now=timezone.now())
    assert (row(job).state, row(job).unique_key) == ("available", None)


def test_running_now_makes_the_selected_jobs_available_now(ops: DatabaseOps) -> None:
    later = JobFactory(state="scheduled", scheduled_at=ago(-3600), max_attempts=7)
    backing_off = JobFactory(state="retryable", scheduled_at=ago(-60))
    untouched = JobFactory(state="scheduled", scheduled_at=ago(-3600))
    now = timezone.now()
    assert ops.job_run_now(selected(later, backing_off), now=now) == 2
    assert [(row(j).state, row(j).scheduled_at) for j in (later, backing_off)] == [("available", now)] * 2
    assert row(later).max_attempts == 7
    assert row(untouched).state == "scheduled"


def test_running_now_applies_the_key_rule_of_the_available_state(ops: DatabaseOps) -> None:
    leaving = unique_job(KEY, states_mask(["scheduled"]), state="scheduled", scheduled_at=ago(-60))
    returning = keyless_job(OTHER_KEY, states_mask(["available"]), state="retryable", scheduled_at=ago(-60))
    ops.job_run_now(selected(leaving, returning), now=timezone.now())
    assert (row(leaving).unique_key, row(returning).unique_key) == (None, OTHER_KEY)


def test_making_available_leaves_the_times_alone(ops: DatabaseOps) -> None:
    due = ago(-3600)
    job = JobFactory(state="scheduled", scheduled_at=due)
    returning = keyless_job(KEY, QUEUED, state="retryable", scheduled_at=due)
    assert ops.job_make_available(selected(job, returning)) == 2
    assert (row(job).state, row(job).scheduled_at) == ("available", due)
    assert row(returning).unique_key == KEY


def test_a_cancel_ends_the_selected_jobs_and_returns_them(ops: DatabaseOps) -> None:
    waiting = JobFactory(queue="emails", meta={"batch_id": "b"})
    running = executing("w1")
    untouched = JobFactory()
    now = timezone.now()
    with transaction.atomic():
        moved = ops.job_cancel(selected(waiting, running), now=now)
    assert sorted(moved) == [
        MovedJob(waiting.pk, "cancelled", "emails", {"batch_id": "b"}, False),
        MovedJob(running.pk, "cancelled", "default", {}, False),
    ]
    assert [(row(j).state, row(j).finished_at) for j in (waiting, running)] == [("cancelled", now)] * 2
    assert row(untouched).state == "available"


def test_a_cancel_of_nothing_returns_nothing(ops: DatabaseOps) -> None:
    JobFactory()
    with transaction.atomic():
        assert ops.job_cancel(Job.objects.none(), now=timezone.now()) == []


def test_a_cancelled_jobs_late_outcome_is_fenced_out(ops: DatabaseOps) -> None:
    JobFactory()
    [job] = claim(ops)
    with transaction.atomic():
        ops.job_cancel(selected(job), now=timezone.now())
    assert ops.job_record_outcomes(worker_id="w1", outcomes=[(job, completed(1))]) == set()
    assert (row(job).state, row(job).result) == ("cancelled", None)


def test_a_cancel_keeps_the_key_only_where_cancelled_is_covered(ops: DatabaseOps) -> None:
    kept = unique_job(KEY, states_mask(["available", "cancelled"]))
    cleared = unique_job(OTHER_KEY, QUEUED)
    with transaction.atomic():
        ops.job_cancel(selected(kept, cleared), now=timezone.now())
    assert (row(kept).unique_key, row(cleared).unique_key) == (KEY, None)


def test_a_cancel_gives_the_key_back_where_cancelled_is_covered_as_a_cancel_outcome_does(
    ops: DatabaseOps,
) -> None:
    job = unique_job(KEY, states_mask(["available", "cancelled"]))
    claim(ops)  # executing is not covered: the key is cleared
    with transaction.atomic():
        ops.job_cancel(selected(job), now=timezone.now())
    assert row(job).unique_key == KEY


def test_a_cancel_returns_only_the_rows_it_cancelled(ops: DatabaseOps) -> None:
    earlier = JobFactory()
    job = JobFactory()
    now = timezone.now()  # two cancels in the same clock tick
    with transaction.atomic():
        ops.job_cancel(selected(earlier), now=now)
    with transaction.atomic():
        moved = ops.job_cancel(selected(job), now=now)
    assert [m.id for m in moved] == [job.pk]


def test_marking_executing_moves_a_waiting_job_as_a_claim_would_but_started(ops: DatabaseOps) -> None:
    job = JobFactory(state="scheduled", attempt=1, scheduled_at=ago(-60))
    now = timezone.now()
    assert ops.job_mark_executing(job, worker_id="t1", now=now) is True
    stored = row(job)
    assert (stored.state, stored.attempt, stored.worker_id, stored.attempted_at) == (
        "executing",
        2,
        "t1",
        now,
    )


def test_marking_executing_is_fenced_on_the_state_and_attempt_read(ops: DatabaseOps) -> None:
    job = JobFactory(attempt=1)
    moved_on = row(job)
    Job.objects.filter(pk=job.pk).update(attempt=2)
    assert ops.job_mark_executing(job, worker_id="t1", now=timezone.now()) is False
    Job.objects.filter(pk=job.pk).update(attempt=1, state="cancelled")
    assert ops.job_mark_executing(moved_on, worker_id="t1", now=timezone.now()) is False
    assert (row(job).state, row(job).worker_id) == ("cancelled", None)


def test_marking_executing_applies_the_key_rule_of_the_executing_state(ops: DatabaseOps) -> None:
    cleared = unique_job(KEY, QUEUED)
    kept = unique_job(OTHER_KEY, WITH_EXECUTING)
    ops.job_mark_executing(cleared, worker_id="t1", now=timezone.now())
    ops.job_mark_executing(kept, worker_id="t1", now=timezone.now())
    assert (row(cleared).unique_key, row(kept).unique_key) == (None, OTHER_KEY)


def test_marking_executing_gives_the_key_back_when_executing_is_covered_and_the_key_is_free(
    ops: DatabaseOps,
) -> None:
    job = keyless_job(KEY, EXECUTING_ONLY, state="scheduled")
    ops.job_mark_executing(job, worker_id="t1", now=timezone.now())
    assert row(job).unique_key == KEY


# -- empty inputs ---------------------------------------------------------------------------


def test_every_method_given_nothing_does_nothing(ops: DatabaseOps) -> None:
    job = executing("w1")
    now = timezone.now()
    assert ops.job_insert_many([], chunk_size=10) == []
    assert claim(ops, limit=0) == []
    assert ops.job_record_outcomes(worker_id="w1", outcomes=[]) == set()
    ops.job_mark_started(worker_id="w1", started=[])
    assert ops.job_release(worker_id="w1", jobs=[], now=now, reason="r") == []
    assert ops.job_restore_unique([]) == 0
    assert ops.worker_delete_unchanged(heartbeats={}) == []
    assert row(job).state == "executing"


# -- change counter -------------------------------------------------------------------------


def in_another_connection(work: Any) -> None:
    """Run ``work()`` in a thread, with its own connection, committing before it returns."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # re-raised in the test's thread
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if failures:
        raise failures[0]


@pytest.mark.django_db(transaction=True)
def test_the_change_counter_moves_when_another_connection_commits(ops: DatabaseOps) -> None:
    if not ops.supports_change_counter:
        pytest.skip("no change counter on this database")
    before = ops.change_counter()
    in_another_connection(lambda: JobFactory())
    time.sleep(ops.change_counter_interval)  # where the counter is polled, the change shows by then
    assert ops.change_counter() != before


# -- LISTEN / NOTIFY ------------------------------------------------------------------------


@pytest.fixture
def listener(ops: DatabaseOps) -> Iterator[Any]:
    if not ops.supports_listen_notify:
        pytest.skip("no LISTEN/NOTIFY on this database")
    conn = ops.listen_connect()
    yield conn
    conn.close()


def woken(ops: DatabaseOps, conn: Any, *until: str, timeout: float = 5.0) -> list[str]:
    """Collect the queues woken on ``conn`` until all of ``until`` are among them (or ``timeout`` passes)."""
    seen: list[str] = []
    deadline = timezone.now() + timedelta(seconds=timeout)
    while not set(until) <= set(seen) and timezone.now() < deadline:
        seen.extend(ops.listen_wait(conn, 0.5))
    return seen


@pytest.mark.django_db(transaction=True)
def test_a_notify_sent_in_a_committed_transaction_reaches_a_listener(ops: DatabaseOps, listener: Any) -> None:
    with transaction.atomic():
        ops.notify_inserted(["emails", "default"])
    assert sorted(woken(ops, listener, "default", "emails")) == ["default", "emails"]


@pytest.mark.django_db(transaction=True)
def test_a_notify_sent_in_a_rolled_back_transaction_never_arrives(ops: DatabaseOps, listener: Any) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        ops.notify_inserted(["lost"])
        raise RuntimeError("roll back")
    with transaction.atomic():
        ops.notify_inserted(["kept"])
    assert woken(ops, listener, "kept") == ["kept"]


@pytest.mark.django_db(transaction=True)
def test_a_listener_waits_out_its_timeout_when_nothing_is_sent(ops: DatabaseOps, listener: Any) -> None:
    assert ops.listen_wait(listener, 0.2) == []


@pytest.mark.django_db(transaction=True)
def test_a_single_statement_insert_wakes_its_queue_only_when_asked(ops: DatabaseOps, listener: Any) -> None:
    if not ops.supports_single_statement_insert:
        pytest.skip("no single-statement insert on this database")
    ops.job_insert_one(pending(queue="quiet"), notify=False)
    ops.job_insert_one(pending(queue="loud"), notify=True)
    assert woken(ops, listener, "loud") == ["loud"]


@pytest.mark.django_db(transaction=True)
def test_a_broken_listener_fails_its_next_wait(ops: DatabaseOps, listener: Any) -> None:
    ops.listen_break(listener)
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error; the notifier catches any
        ops.listen_wait(listener, 0.2)


# -- row estimates --------------------------------------------------------------------------


def test_counting_rows_is_exact_up_to_the_cap(ops: DatabaseOps) -> None:
    for _ in range(3):
        JobFactory()
    assert count_rows(Job.objects.all(), exact_up_to=3) == RowCount(3)


def test_counting_past_the_cap_estimates_where_the_database_can_and_counts_where_not(
    ops: DatabaseOps,
) -> None:
    for _ in range(5):
        JobFactory()
    counted = count_rows(Job.objects.all(), exact_up_to=2)
    if ops.supports_row_estimates:
        assert counted.estimated and counted.value >= 3
        assert isinstance(estimate_rows(Job.objects.all()), int)
    else:
        assert counted == RowCount(5)
        assert estimate_rows(Job.objects.all()) is None
