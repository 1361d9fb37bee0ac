"""djobs.testing for workflows: drain_queue runs one to its end in order; assert_workflow checks its steps."""

from __future__ import annotations

import pytest

from djobs import Workflow, chain
from djobs.testing import assert_workflow, drain_queue, workflow_steps
from tests.testapp import workflow_jobs as wj

pytestmark = pytest.mark.django_db(transaction=True)


def test_drain_queue_runs_a_workflow_to_its_end_and_assert_workflow_passes() -> None:
    wf = Workflow("import")
    wf.add("fetch", wj.step.new("page"))
    wf.add("parse", wj.collect.new(), deps=["fetch"])
    jobs = wf.enqueue()
    assert_workflow(wf, {"fetch": "available", "parse": "waiting"}, finished=False)
    assert drain_queue() == {"completed": 2}
    steps = assert_workflow(jobs["parse"], {"fetch": "completed", "parse": "completed"}, finished=True)
    assert steps["parse"].result == {"fetch": "page"}


def test_assert_workflow_fails_listing_each_step_and_its_state() -> None:
    wf = chain(wj.fail.new(), wj.step.new())
    wf.enqueue()
    drain_queue()
    with pytest.raises(AssertionError) as caught:
        assert_workflow(wf, {"1": "completed", "2": "completed"})
    message = str(caught.value)
    assert "1: expected completed, is discarded" in message
    assert "2: expected completed, is cancelled" in message
    assert "All steps: 1=discarded, 2=cancelled" in message


def test_assert_workflow_fails_when_finished_is_not_as_expected() -> None:
    wf = chain(wj.step.new(), wj.step.new())
    wf.enqueue()
    with pytest.raises(AssertionError, match=r"is running, expected it finished \(2 of 2 steps not ended\)"):
        assert_workflow(wf, finished=True)
    assert list(workflow_steps(str(wf.id))) == ["1", "2"]


def test_assert_workflow_refuses_a_workflow_not_enqueued() -> None:
    with pytest.raises(ValueError, match=r"'draft' was not enqueued yet"):
        assert_workflow(Workflow("draft"))


def test_inline_mode_runs_a_workflow_to_its_end_in_dependency_order() -> None:
    from djobs.testing import testing_mode
    from tests.testapp.models import Marker

    wf = Workflow("diamond")
    wf.add("top", wj.step.new("t"))
    wf.add("left", wj.step.new("l"), deps=["top"])
    wf.add("right", wj.step.new("r"), deps=["top"])
    wf.add("bottom", wj.collect.new(), deps=["left", "right"])
    with testing_mode("inline"):
        jobs = wf.enqueue()
    assert {name: job.state for name, job in jobs.items()} == dict.fromkeys(jobs, "completed")
    assert jobs["bottom"].result == {"left": "l", "right": "r"}
    order = [m.name.split(":")[0] + ":" + m.name.split(":")[-1] for m in Marker.objects.order_by("pk")]
    for before, after in [("top", "left"), ("top", "right"), ("left", "bottom"), ("right", "bottom")]:
        assert order.index(f"end:{before}") < order.index(f"start:{after}")
    assert_workflow(wf, finished=True)


def test_inline_mode_cancels_the_dependents_of_a_failed_step() -> None:
    from djobs.testing import testing_mode

    with testing_mode("inline"):
        jobs = chain(wj.step.new(), wj.fail.new(), wj.step.new()).enqueue()
    assert [job.state for job in jobs.values()] == ["completed", "discarded", "cancelled"]


def test_inline_mode_runs_the_steps_a_step_adds_before_those_waiting_for_them() -> None:
    from djobs.testing import testing_mode

    wf = Workflow()
    wf.add("fan", wj.fan_out.new(2, "after"))
    wf.add("after", wj.collect.new(), deps=["fan"])
    with testing_mode("inline"):
        jobs = wf.enqueue()
    assert jobs["after"].state == "completed"
    assert jobs["after"].result == {"fan": 2, "extra-0": 0, "extra-1": 1}
    assert_workflow(wf, {"extra-0": "completed", "extra-1": "completed"}, finished=True)
