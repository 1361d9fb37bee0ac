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
