"""Workflows run in the test process (drain_queue): order, failures, results, extension, validation."""

from __future__ import annotations

import pytest

from djobs import Workflow, chain
from djobs.models import Job, WorkflowEdge, WorkflowStep
from djobs.models import Workflow as WorkflowRow
from djobs.testing import drain_queue
from djobs.workflows import (
    CycleError,
    DuplicateStepError,
    EmptyWorkflowError,
    UnknownDependencyError,
    WorkflowError,
)
from tests.testapp import workflow_jobs as wj
from tests.testapp.models import Marker

pytestmark = pytest.mark.django_db(transaction=True)


def events(workflow_id: object) -> list[str]:
    """Return ``start:step`` / ``end:step`` in the order they happened."""
    rows = Marker.objects.filter(name__contains=f":{workflow_id}:").order_by("id")
    return [f"{name.split(':')[0]}:{name.split(':')[2]}" for name in rows.values_list("name", flat=True)]


def diamond() -> Workflow:
    wf = Workflow("diamond")
    wf.add("fetch", wj.step.new("f"))
    wf.add("parse", wj.step.new("p"), deps=["fetch"])
    wf.add("index", wj.step.new("i"), deps=["parse"])
    wf.add("thumbs", wj.step.new("t"), deps=["parse"])
    wf.add("notify", wj.collect.new(), deps=["index", "thumbs"])
    return wf


def test_only_the_steps_without_dependencies_are_runnable_after_enqueue() -> None:
    jobs = diamond().enqueue()
    assert {name: job.state for name, job in jobs.items()} == {
        "fetch": "available",
        "parse": "waiting",
        "index": "waiting",
        "thumbs": "waiting",
        "notify": "waiting",
    }
    assert WorkflowStep.objects.get(job_id=jobs["notify"].pk).pending == 2
    assert WorkflowEdge.objects.filter(dependent_id=jobs["notify"].pk).count() == 2


def test_a_chain_runs_each_step_after_its_predecessor_finished() -> None:
    wf = chain(wj.step.new(1), wj.step.new(2), wj.step.new(3), name="three")
    jobs = wf.enqueue()
    assert list(jobs) == ["1", "2", "3"]
    assert drain_queue() == {"completed": 3}
    assert events(wf.id) == ["start:1", "end:1", "start:2", "end:2", "start:3", "end:3"]
    row = WorkflowRow.objects.get(pk=wf.id)
    assert (row.state, row.remaining, row.size) == ("finished", 0, 3)


def test_a_diamond_runs_the_final_step_once_after_both_branches_and_passes_their_results() -> None:
    wf = diamond()
    jobs = wf.enqueue()
    assert drain_queue() == {"completed": 5}
    order = events(wf.id)
    assert order.index("start:notify") > max(order.index("end:index"), order.index("end:thumbs"))
    assert order.index("start:index") > order.index("end:parse")
    assert order.count("start:notify") == 1
    notify = Job.objects.get(pk=jobs["notify"].pk)
    assert notify.result == {"index": "i", "thumbs": "t"}


def test_a_failed_step_cancels_its_dependents_transitively_naming_it() -> None:
    wf = Workflow()
    wf.add("a", wj.step.new())
    wf.add("b", wj.fail.new(), deps=["a"])
    wf.add("c", wj.step.new(), deps=["b"])
    wf.add("d", wj.step.new(), deps=["c"])
    wf.add("side", wj.step.new(), deps=["a"])
    jobs = wf.enqueue()
    assert drain_queue() == {"completed": 2, "discarded": 1}
    states = {name: Job.objects.get(pk=job.pk).state for name, job in jobs.items()}
    assert states == {
        "a": "completed",
        "b": "discarded",
        "c": "cancelled",
        "d": "cancelled",
        "side": "completed",
    }
    c = Job.objects.get(pk=jobs["c"].pk)
    assert "dependency 'b'" in c.errors[-1]["error"] and "discarded" in c.errors[-1]["error"]
    d = Job.objects.get(pk=jobs["d"].pk)
    assert "dependency 'c'" in d.errors[-1]["error"] and "cancelled" in d.errors[-1]["error"]
    assert "start:c" not in events(wf.id)
    assert WorkflowRow.objects.get(pk=wf.id).state == "finished"


def test_ignore_failed_deps_runs_the_step_anyway_with_none_for_the_failed_result() -> None:
    wf = Workflow()
    wf.add("ok", wj.step.new("fine"))
    wf.add("bad", wj.fail.new())
    wf.add("report", wj.collect.new(), deps=["ok", "bad"], ignore_failed_deps=True)
    jobs = wf.enqueue()
    drain_queue()
    report = Job.objects.get(pk=jobs["report"].pk)
    assert report.state == "completed"
    assert report.result == {"ok": "fine", "bad": None}


def test_a_retried_dependency_releases_nothing_until_it_completes() -> None:
    wf = Workflow()
    wf.add("flaky", wj.flaky.new())
    wf.add("after", wj.collect.new(), deps=["flaky"])
    jobs = wf.enqueue()
    assert drain_queue(with_limit=1) == {"retryable": 1}
    assert Job.objects.get(pk=jobs["after"].pk).state == "waiting"
    assert drain_queue() == {"retryable": 1, "completed": 2}
    assert Job.objects.get(pk=jobs["after"].pk).result == {"flaky": "third time"}
    assert events(wf.id) == [
        "start:flaky",
        "start:flaky",
        "start:flaky",
        "end:flaky",
        "start:after",
        "end:after",
    ]


def test_a_step_adds_steps_to_its_own_workflow_and_the_final_step_waits_for_them() -> None:
    wf = Workflow("extends")
    wf.add("fan", wj.fan_out.new(3, "final"))
    wf.add("final", wj.collect.new(), deps=["fan"])
    jobs = wf.enqueue()
    assert drain_queue() == {"completed": 5}
    order = events(wf.id)
    assert order.index("start:final") > max(order.index(f"end:extra-{i}") for i in range(3))
    final = Job.objects.get(pk=jobs["final"].pk)
    assert final.result == {"fan": 3, "extra-0": 0, "extra-1": 1, "extra-2": 2}
    row = WorkflowRow.objects.get(pk=wf.id)
    assert (row.size, row.state) == (5, "finished")


@pytest.mark.parametrize(
    ("build", "error", "words"),
    [
        (lambda wf: None, EmptyWorkflowError, "no steps"),
        (lambda wf: wf.add("a", wj.step.new(), deps=["nope"]), UnknownDependencyError, "'nope'"),
        (
            lambda wf: (
                wf.add("a", wj.step.new(), deps=["c"]),
                wf.add("b", wj.step.new(), deps=["a"]),
                wf.add("c", wj.step.new(), deps=["b"]),
            ),
            CycleError,
            "'a' -> 'c' -> 'b' -> 'a'",
        ),
    ],
    ids=["empty", "unknown-dependency", "cycle"],
)
def test_a_wrong_graph_is_refused_at_enqueue_with_nothing_written(build, error, words) -> None:  # type: ignore[no-untyped-def]
    wf = Workflow("bad")
    wf.add("root", wj.step.new())
    if error is EmptyWorkflowError:
        wf = Workflow("bad")
    build(wf)
    with pytest.raises(error, match=r".") as caught:
        wf.enqueue()
    assert words in str(caught.value)
    assert not Job.objects.exists() and not WorkflowRow.objects.exists() and not WorkflowStep.objects.exists()


def test_a_duplicate_step_name_is_refused_when_added() -> None:
    wf = Workflow("dup")
    wf.add("a", wj.step.new())
    with pytest.raises(DuplicateStepError, match="'a'"):
        wf.add("a", wj.step.new())


def test_a_step_that_is_not_a_job_is_refused_naming_it() -> None:
    with pytest.raises(TypeError, match=r"Step 'a'.*my_job\.new"):
        Workflow().add("a", wj.step)  # type: ignore[arg-type]


def test_enqueue_many_writes_several_workflows_or_none_of_them() -> None:
    good = [chain(wj.step.new(i), wj.step.new(i)) for i in range(3)]
    bad = Workflow("bad")
    bad.add("a", wj.step.new(), deps=["missing"])
    with pytest.raises(UnknownDependencyError):
        Workflow.enqueue_many([*good, bad])
    assert not Job.objects.exists() and not WorkflowRow.objects.exists()
    jobs = Workflow.enqueue_many(good)
    assert [sorted(j) for j in jobs] == [["1", "2"]] * 3
    assert WorkflowStep.objects.count() == 6 and WorkflowEdge.objects.count() == 3
    assert drain_queue() == {"completed": 6}
    assert set(WorkflowRow.objects.values_list("state", flat=True)) == {"finished"}


def test_a_step_that_duplicates_a_unique_job_refuses_the_workflow_naming_both() -> None:
    from tests.testapp.jobs import unique_forever

    held = unique_forever.enqueue("k")
    wf = Workflow("dup")
    wf.add("first", wj.step.new())
    wf.add("unique", unique_forever.new("k"), deps=["first"])
    with pytest.raises(WorkflowError, match=rf"Step 'unique' .* duplicate of unique job {held.pk}"):
        wf.enqueue()
    assert list(Job.objects.values_list("pk", flat=True)) == [held.pk]
    assert not WorkflowRow.objects.exists()


def test_a_waiting_unique_step_holds_its_key() -> None:
    from tests.testapp.jobs import unique_forever

    jobs = chain(wj.step.new(), unique_forever.new("w")).enqueue()
    again = unique_forever.enqueue("w")
    assert again.duplicate and again.pk == jobs["2"].pk
    assert drain_queue() == {"completed": 2}


def test_a_batch_holding_a_workflow_finishes_once_after_its_last_step() -> None:
    from djobs.batches import batch

    with batch(on_complete="tests.testapp.batch_jobs.report") as b:
        wf = chain(wj.step.new(1), wj.step.new(2), wj.step.new(3))
        wf.enqueue()
    drain_queue(with_limit=1)
    assert b.row.state == "running"  # steps 2 and 3 wait: the batch is not done
    drain_queue()
    assert b.row.state == "finished"
    callbacks = Job.objects.filter(meta__callback_of=b.key)
    assert callbacks.count() == 1 and callbacks.get().result["counts"]["completed"] == 3
