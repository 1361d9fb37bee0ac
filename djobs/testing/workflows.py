"""Assertions about workflows: which state each step is in, and whether the workflow finished."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..conf import get_settings

if TYPE_CHECKING:
    from ..models import Job


def _workflow_id(workflow: Any) -> str:
    from ..models import Job
    from ..workflows.api import Workflow

    if isinstance(workflow, Workflow):
        if workflow.id is None:
            raise ValueError(f"Workflow {workflow.name!r} was not enqueued yet; call wf.enqueue() first.")
        return str(workflow.id)
    if isinstance(workflow, Job):
        key = (workflow.meta or {}).get("workflow_id")
        if key is None:
            raise ValueError(f"Job {workflow.pk} ({workflow.path}) is not a workflow step.")
        return str(key)
    return str(workflow)


def workflow_steps(workflow: Any) -> dict[str, Job]:
    """Return ``step name -> Job`` of a workflow (a Workflow, one of its jobs, or its id), as stored now."""
    from ..models import Job, WorkflowStep

    alias = get_settings().DATABASE
    key = _workflow_id(workflow)
    steps = dict(WorkflowStep.objects.using(alias).filter(workflow_id=key).values_list("job_id", "name"))
    jobs = Job.objects.using(alias).filter(pk__in=list(steps)).order_by("pk")
    return {steps[job.pk]: job for job in jobs}


def assert_workflow(
    workflow: Any, states: Mapping[str, str] | None = None, *, finished: bool | None = None
) -> dict[str, Job]:
    """Assert the state of each named step (and, with ``finished``, of the workflow); return its steps.

    ::

        jobs = wf.enqueue()
        drain_queue()
        assert_workflow(wf, {"fetch": "completed", "parse": "discarded", "notify": "cancelled"})

    Steps not named in ``states`` are not checked. On failure the message
    lists every step with its state.
    """
    from ..models import Workflow

    steps = workflow_steps(workflow)
    key = _workflow_id(workflow)
    if not steps:
        raise AssertionError(f"Workflow {key} has no steps in the database (was it enqueued, or pruned?).")
    actual = {name: job.state for name, job in steps.items()}
    wrong = {
        name: (want, actual.get(name, "(no such step)"))
        for name, want in (states or {}).items()
        if actual.get(name) != want
    }
    if wrong:
        lines = [f"  {name}: expected {want}, is {got}" for name, (want, got) in wrong.items()]
        listing = ", ".join(f"{name}={state}" for name, state in actual.items())
        raise AssertionError(f"Workflow {key} steps differ:\n" + "\n".join(lines) + f"\nAll steps: {listing}")
    if finished is not None:
        row = Workflow.objects.using(get_settings().DATABASE).get(pk=key)
        if (row.state == "finished") != finished:
            raise AssertionError(
                f"Workflow {key} is {row.state}, expected it {'finished' if finished else 'running'} "
                f"({row.remaining} of {row.size} steps not ended)."
            )
    return steps


__all__ = ["assert_workflow", "workflow_steps"]
