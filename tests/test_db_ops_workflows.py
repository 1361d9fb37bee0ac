"""DatabaseOps' workflow methods, held to one contract on every database (SQLite, PostgreSQL, MariaDB)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections, transaction
from django.utils import timezone

from djobs import Workflow
from djobs.db import get_ops
from djobs.maintenance.pruner import Pruner, PrunerConfig
from djobs.models import Job, WorkflowEdge, WorkflowStep
from djobs.models import Workflow as WorkflowRow
from djobs.testing import drain_queue
from tests.testapp import workflow_jobs as wj

pytestmark = pytest.mark.django_db(transaction=True)


def two_steps() -> dict[str, Job]:
    wf = Workflow("pair")
    wf.add("a", wj.step.new())
    wf.add("b", wj.step.new(), deps=["a"])
    return wf.enqueue()


def complete(job: Job) -> None:
    # What the dispatcher's recorder leaves: the row completed, the hook not run yet.
    Job.objects.filter(pk=job.pk).update(state="completed", finished_at=timezone.now())


def test_workflow_release_makes_a_dependent_available_once_however_often_it_is_called() -> None:
    jobs = two_steps()
    complete(jobs["a"])
    ops = get_ops()
    first = ops.workflow_release([(jobs["a"].pk, "completed")], now=timezone.now())
    again = ops.workflow_release([(jobs["a"].pk, "completed")], now=timezone.now())
    assert first.released == [jobs["b"].pk] and first.queues == {"default"}
    assert again.released == [] and again.cancelled == []
    assert Job.objects.get(pk=jobs["b"].pk).state == "available"
    assert WorkflowStep.objects.get(job_id=jobs["b"].pk).pending == 0


def test_workflow_release_of_a_discarded_step_cancels_its_dependent_with_an_error_naming_it() -> None:
    jobs = two_steps()
    Job.objects.filter(pk=jobs["a"].pk).update(state="discarded", finished_at=timezone.now())
    result = get_ops().workflow_release([(jobs["a"].pk, "discarded")], now=timezone.now())
    assert [job.id for job in result.cancelled] == [jobs["b"].pk]
    b = Job.objects.get(pk=jobs["b"].pk)
    assert b.state == "cancelled" and b.finished_at is not None
    assert b.errors[-1]["error"] == f"Cancelled: dependency 'a' (job {jobs['a'].pk}) was discarded"
    assert WorkflowRow.objects.get().state == "finished"


def test_workflow_release_ignores_steps_that_did_not_end() -> None:
    jobs = two_steps()
    result = get_ops().workflow_release([(jobs["a"].pk, "retryable")], now=timezone.now())
    assert result.released == []
    assert not WorkflowStep.objects.get(job_id=jobs["a"].pk).done


def test_workflow_release_keeps_a_step_scheduled_for_later_scheduled() -> None:
    wf = Workflow()
    wf.add("a", wj.step.new())
    wf.add("b", wj.step.using(schedule_in=3600).new(), deps=["a"])
    jobs = wf.enqueue()
    assert Job.objects.get(pk=jobs["b"].pk).state == "waiting"
    complete(jobs["a"])
    get_ops().workflow_release([(jobs["a"].pk, "completed")], now=timezone.now())
    assert Job.objects.get(pk=jobs["b"].pk).state == "scheduled"


def test_workflow_missed_finds_steps_that_ended_before_the_cutoff_and_were_never_released() -> None:
    jobs = two_steps()
    ops = get_ops()
    later = timezone.now() + timedelta(seconds=1)
    assert ops.workflow_missed(10, ended_before=later) == []
    complete(jobs["a"])
    assert ops.workflow_missed(10, ended_before=later) == [(jobs["a"].pk, "completed")]
    ops.workflow_release(ops.workflow_missed(10, ended_before=later), now=timezone.now())
    assert ops.workflow_missed(10, ended_before=later) == []


def test_workflow_missed_leaves_a_step_that_ended_after_the_cutoff() -> None:
    jobs = two_steps()
    cutoff = timezone.now()
    Job.objects.filter(pk=jobs["a"].pk).update(state="completed", finished_at=cutoff + timedelta(seconds=1))
    assert get_ops().workflow_missed(10, ended_before=cutoff) == []


def test_workflow_add_waiting_counts_only_steps_still_waiting() -> None:
    jobs = two_steps()
    ops = get_ops()
    workflow_id = WorkflowRow.objects.get().pk
    with transaction.atomic():  # the caller's transaction holds the locks it takes
        assert ops.workflow_add_waiting(workflow_id, {jobs["b"].pk: 2, jobs["a"].pk: 1}) == 1
    assert WorkflowStep.objects.get(job_id=jobs["b"].pk).pending == 3


def test_workflow_grow_refuses_a_finished_workflow() -> None:
    two_steps()
    ops = get_ops()
    row = WorkflowRow.objects.get()
    assert ops.workflow_grow(row.pk, 2)
    row.refresh_from_db()
    assert (row.size, row.remaining) == (4, 4)
    WorkflowRow.objects.update(state="finished")
    assert not ops.workflow_grow(row.pk, 1)


def test_pruning_keeps_the_jobs_of_an_unfinished_workflow_and_then_deletes_all_its_rows() -> None:
    jobs = two_steps()
    plain = wj.step.enqueue()
    old = timezone.now() - timedelta(days=30)
    Job.objects.filter(pk__in=[jobs["a"].pk, plain.pk]).update(state="completed", finished_at=old)
    pruner = Pruner(PrunerConfig(retention={"completed": 60}))
    assert pruner.run_once().counts == {"completed": 1}  # the plain job only
    assert Job.objects.filter(pk=jobs["a"].pk).exists()
    get_ops().workflow_release([(jobs["a"].pk, "completed")], now=timezone.now())
    drain_queue()
    Job.objects.update(finished_at=old)
    assert pruner.run_once().counts == {"completed": 2, "workflows": 1}
    assert not Job.objects.exists()
    assert not WorkflowRow.objects.exists() and not WorkflowStep.objects.exists()
    assert not WorkflowEdge.objects.exists()


def test_pruning_while_a_workflow_runs_keeps_the_jobs_of_an_open_batch() -> None:
    from djobs.batches import open_batch

    two_steps()  # a workflow running: the pruner takes the workflow-aware path
    handle = open_batch()
    with handle.adding():
        in_batch = wj.step.enqueue()
    old = timezone.now() - timedelta(days=30)
    Job.objects.filter(pk=in_batch.pk).update(state="completed", finished_at=old)
    ops = get_ops()
    assert ops.workflow_any_unfinished()
    assert ops.job_delete_finished_outside_workflows(state="completed", before=timezone.now(), limit=10) == 0
    assert Job.objects.filter(pk=in_batch.pk).exists()


def test_workflow_release_of_a_step_and_its_dependent_together_handles_each_once() -> None:
    # The dependent ran early (an operator's "run now"), so both ended before any release.
    wf = Workflow()
    wf.add("a", wj.step.new())
    wf.add("b", wj.step.new(), deps=["a"])
    wf.add("c", wj.step.new(), deps=["b"])
    jobs = wf.enqueue()
    complete(jobs["a"])
    complete(jobs["b"])
    ended = [(jobs["a"].pk, "completed"), (jobs["b"].pk, "completed")]
    result = get_ops().workflow_release(ended, now=timezone.now())
    assert result.released == [jobs["c"].pk]
    done = WorkflowStep.objects.filter(done=True).values_list("job_id", flat=True)
    assert sorted(done) == [jobs["a"].pk, jobs["b"].pk]
    assert WorkflowStep.objects.get(job_id=jobs["c"].pk).pending == 0
    assert WorkflowRow.objects.get().remaining == 1


def test_workflow_release_finishes_the_workflow_when_its_last_steps_end() -> None:
    jobs = two_steps()
    complete(jobs["a"])
    ops = get_ops()
    ops.workflow_release([(jobs["a"].pk, "completed")], now=timezone.now())
    complete(jobs["b"])
    now = timezone.now()
    assert ops.workflow_release([(jobs["b"].pk, "completed")], now=now).finished == 1
    row = WorkflowRow.objects.get()
    assert (row.state, row.remaining, row.finished_at) == ("finished", 0, now)


@pytest.mark.postgres
def test_on_postgresql_a_round_of_completed_steps_is_released_in_two_statements(
    django_assert_num_queries,  # type: ignore[no-untyped-def]
) -> None:
    chains = Workflow.enqueue_many([chain_of_two() for _ in range(20)])
    firsts = [jobs["a"] for jobs in chains]
    Job.objects.filter(pk__in=[job.pk for job in firsts]).update(
        state="completed", finished_at=timezone.now()
    )
    with django_assert_num_queries(4):  # BEGIN, the workflows' locks, the release, COMMIT
        result = get_ops().workflow_release([(job.pk, "completed") for job in firsts], now=timezone.now())
    assert result.released == sorted(jobs["b"].pk for jobs in chains)


def chain_of_two() -> Workflow:
    wf = Workflow()
    wf.add("a", wj.step.new())
    wf.add("b", wj.step.new(), deps=["a"])
    return wf


def test_a_release_waiting_for_the_workflow_lock_counts_the_step_added_meanwhile() -> None:
    # A step adds a step after "a" while "a" ends: the release waits for the
    # workflow's lock, then must see the new edge, or the new step waits forever.
    from djobs.workflows.store import StepSpec, add_step

    jobs = two_steps()
    workflow_id = WorkflowRow.objects.get().pk
    complete(jobs["a"])
    added, go = threading.Event(), threading.Event()
    released: list[Any] = []

    def add() -> None:
        try:
            with transaction.atomic():
                add_step(workflow_id, StepSpec("x", wj.step.new(), ("a",)))
                added.set()
                go.wait(10)
        finally:
            connections.close_all()

    def release() -> None:
        try:
            released.append(get_ops().workflow_release([(jobs["a"].pk, "completed")], now=timezone.now()))
        finally:
            connections.close_all()

    adding = threading.Thread(target=add)
    adding.start()
    assert added.wait(10)
    releasing = threading.Thread(target=release)
    releasing.start()
    time.sleep(0.5)  # the release is waiting for the lock the adding transaction holds
    go.set()
    adding.join(10)
    releasing.join(10)
    x = WorkflowStep.objects.get(name="x")
    assert Job.objects.get(pk=x.job_id).state == "available"
    assert x.pending == 0
    assert sorted(released[0].released) == sorted([jobs["b"].pk, x.job_id])
