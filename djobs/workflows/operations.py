"""Operator actions on a whole workflow: cancel what is left of it, or run it again from a failed step."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from ..conf import get_settings
from ..db import get_ops
from .errors import WorkflowError


def _key(workflow: Any) -> str:
    from ..models import Job
    from .api import Workflow

    if isinstance(workflow, Workflow):
        if workflow.id is None:
            raise WorkflowError(f"Workflow {workflow.name!r} was not enqueued; there is nothing to act on.")
        return str(workflow.id)
    if isinstance(workflow, Job):
        key = (workflow.meta or {}).get("workflow_id")
        if key is None:
            raise WorkflowError(f"Job {workflow.pk} ({workflow.path}) is not a workflow step.")
        return str(key)
    return str(getattr(workflow, "pk", workflow))


def cancel_workflow(workflow: Any) -> int:
    """Cancel every step of ``workflow`` that has not ended (running ones are stopped); return how many.

    ``workflow`` is a ``Workflow``, its row, one of its jobs, or its id.
    """
    from .. import operations
    from .models import WorkflowStep

    key = _key(workflow)
    steps = WorkflowStep.objects.using(get_settings().DATABASE).filter(workflow_id=key)
    return operations.cancel(list(steps.values_list("job_id", flat=True)))


def retry_workflow(workflow: Any, *, from_step: str | None = None) -> dict[str, list[int]]:
    """Run the failed steps of ``workflow`` again; return the job ids now ``available`` and ``waiting``.

    Steps that ended discarded or cancelled are retried (with ``from_step``,
    only that step and the failed steps that depend on it): those whose
    dependencies all completed run at once, the others wait again. Completed
    steps are not run again.
    """
    from .models import WorkflowStep

    key = _key(workflow)
    alias = get_settings().DATABASE
    from_job = None
    if from_step is not None:
        row = WorkflowStep.objects.using(alias).filter(workflow_id=key, name=from_step).first()
        if row is None:
            names = sorted(
                WorkflowStep.objects.using(alias).filter(workflow_id=key).values_list("name", flat=True)
            )
            raise WorkflowError(f"Workflow {key} has no step {from_step!r} (steps: {', '.join(names)}).")
        from_job = row.job_id
    return get_ops(alias).workflow_retry(key, from_job=from_job, now=timezone.now())


__all__ = ["cancel_workflow", "retry_workflow"]
