"""Operator actions on whole workflows: cancel what is left, retry from the failed steps."""

from __future__ import annotations

import pytest

from djobs import Workflow
from djobs.models import Job
from djobs.testing import assert_workflow, drain_queue
from djobs.workflows import WorkflowError
from djobs.workflows.operations import cancel_workflow, retry_workflow
from tests.testapp import workflow_jobs as wj
from tests.testapp.models import Marker

pytestmark = pytest.mark.django_db(transaction=True)


def pipeline(first: object) -> Workflow:
    wf = Workflow("pipeline")
    wf.add("fetch", first)  # type: ignore[arg-type]
    wf.add("parse", wj.step.new("p"), deps=["fetch"])
    wf.add("notify", wj.collect.new(), deps=["parse"])
    wf.add("audit", wj.step.new("a"))
    return wf


def test_cancel_workflow_cancels_every_step_not_ended_and_finishes_it() -> None:
    wf = pipeline(wj.step.new("f"))
    wf.enqueue()
    drain_queue(with_limit=1)  # fetch completes, parse is released
    assert cancel_workflow(wf) == 3
    assert_workflow(
        wf,
        {"fetch": "completed", "parse": "cancelled", "notify": "cancelled", "audit": "cancelled"},
        finished=True,
    )


def test_retry_workflow_runs_the_failed_step_again_and_then_the_cancelled_ones_in_order() -> None:
    wf = pipeline(wj.fail.new())
    jobs = wf.enqueue()
    drain_queue()
    assert_workflow(
        wf, {"fetch": "discarded", "parse": "cancelled", "notify": "cancelled", "audit": "completed"}
    )
    # Make the failing step succeed this time: point it at a job that completes.
    Job.objects.filter(pk=jobs["fetch"].pk).update(path=wj.step.path, args=["again"], kwargs={})
    moved = retry_workflow(wf)
    assert moved == {
        "available": [jobs["fetch"].pk],
        "waiting": sorted([jobs["parse"].pk, jobs["notify"].pk]),
    }
    assert_workflow(wf, {"fetch": "available", "parse": "waiting", "notify": "waiting"}, finished=False)
    assert drain_queue() == {"completed": 3}
    assert_workflow(wf, {"fetch": "completed", "parse": "completed", "notify": "completed"}, finished=True)
    assert Job.objects.get(pk=jobs["notify"].pk).result == {"parse": "p"}
    audit_runs = Marker.objects.filter(name__startswith="start:", name__endswith=":audit").count()
    assert audit_runs == 1  # a completed step is not run again


def test_retry_workflow_from_a_step_retries_only_it_and_what_depends_on_it() -> None:
    wf = Workflow()
    wf.add("a", wj.fail.new())
    wf.add("b", wj.fail.new())
    wf.add("after-b", wj.step.new(), deps=["b"])
    jobs = wf.enqueue()
    drain_queue()
    moved = retry_workflow(wf, from_step="b")
    assert moved == {"available": [jobs["b"].pk], "waiting": [jobs["after-b"].pk]}
    assert_workflow(wf, {"a": "discarded", "b": "available", "after-b": "waiting"})


def test_retry_workflow_names_the_steps_when_from_step_is_unknown() -> None:
    wf = pipeline(wj.step.new())
    wf.enqueue()
    with pytest.raises(WorkflowError, match=r"no step 'nope' \(steps: audit, fetch, notify, parse\)"):
        retry_workflow(wf, from_step="nope")


def test_cancelling_one_step_cancels_the_steps_waiting_for_it_transitively() -> None:
    from djobs import operations

    wf = pipeline(wj.step.new("f"))
    jobs = wf.enqueue()
    assert operations.cancel([jobs["fetch"].pk]) == 1
    assert_workflow(
        wf, {"fetch": "cancelled", "parse": "cancelled", "notify": "cancelled", "audit": "available"}
    )
    parse = Job.objects.get(pk=jobs["parse"].pk)
    assert (
        parse.errors[-1]["error"] == f"Cancelled: dependency 'fetch' (job {jobs['fetch'].pk}) was cancelled"
    )
