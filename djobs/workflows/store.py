"""Writing workflows: all of a workflow's rows in one transaction, and steps added while it runs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from copy import copy
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from .. import tracing
from ..conf import get_settings
from ..db import get_ops
from ..db.workflows import FAILED_STATES
from ..db.workflows_write import EdgeRow, StepRow
from ..hooks import hooks
from ..states import STATE_BITS, JobState, is_covered
from .errors import CycleError, DuplicateStepError, UnknownDependencyError, WorkflowError
from .graph import reaches

if TYPE_CHECKING:
    from ..enqueue import PendingJob
    from ..models import Job

#: The meta keys naming a job's workflow (``str(workflow.id)``) and its step.
WORKFLOW_KEY = "workflow_id"
STEP_KEY = "workflow_step"


@dataclass(frozen=True)
class StepSpec:
    """A step as declared: its name, its job, what it waits for."""

    name: str
    job: PendingJob
    deps: tuple[str, ...] = ()
    ignore_failed_deps: bool = False


_pending_fields: attrgetter[Any] | None = None


def _copy(job: PendingJob) -> PendingJob:
    """Return a shallow copy of ``job`` (copy.copy of a slots dataclass costs several times more)."""
    global _pending_fields
    if _pending_fields is None:
        _pending_fields = attrgetter(*(f.name for f in fields(type(job))))
    return type(job)(*_pending_fields(job))


def _row(spec: StepSpec, workflow_id: str, waiting: bool) -> PendingJob:
    row = _copy(spec.job)
    row.meta = {**(row.meta or {}), WORKFLOW_KEY: workflow_id, STEP_KEY: spec.name}
    if waiting:
        row.state = JobState.WAITING
        # A unique step holds its key while it waits, as it would while scheduled.
        if row.unique_key is not None and is_covered(row.unique_states, JobState.AVAILABLE):
            row.unique_states |= STATE_BITS[JobState.WAITING]
    return row


def _refuse_duplicates(specs: Sequence[StepSpec], jobs: Sequence[Job]) -> None:
    for spec, job in zip(specs, jobs, strict=True):
        if job.duplicate:
            raise WorkflowError(
                f"Step {spec.name!r} ({spec.job.path}) is a duplicate of unique job {job.pk}, which "
                "already holds its unique key; a step cannot be shared with another job. Drop "
                "`unique` from that step, or make the job that starts the workflow unique instead."
            )


def _notify(jobs: Sequence[Job]) -> None:
    ops = get_ops()
    if get_settings().NOTIFY and ops.supports_listen_notify:
        queues = sorted({job.queue for job in jobs if job.state == JobState.AVAILABLE})
        if queues:
            ops.notify_inserted(queues)


def insert_workflows(
    workflows: Sequence[tuple[str, Sequence[StepSpec]]],
) -> list[tuple[uuid.UUID, dict[str, Job]]]:
    """Insert workflows (name, steps with dependencies first): their rows, jobs, steps and edges.

    All in one transaction, one statement per table and chunk however many
    workflows are given.
    """
    ops = get_ops()
    ids = [uuid.uuid4() for _ in workflows]
    rows = [
        _row(spec, key, bool(spec.deps))
        for key, (_, specs) in zip(map(str, ids), workflows, strict=True)
        for spec in specs
    ]
    every = [spec for _, specs in workflows for spec in specs]
    with tracing.enqueue_span(rows) as span, transaction.atomic(using=ops.alias):
        ops.workflow_insert(
            [(pk, name, len(specs)) for pk, (name, specs) in zip(ids, workflows, strict=True)],
            now=timezone.now(),
        )
        jobs = ops.job_insert_many(rows, chunk_size=get_settings().BULK_CHUNK_SIZE)
        _refuse_duplicates(every, jobs)
        result: list[tuple[uuid.UUID, dict[str, Job]]] = []
        steps: list[StepRow] = []
        edges: list[EdgeRow] = []
        offset = 0
        for workflow_id, (_, specs) in zip(ids, workflows, strict=True):
            mine = jobs[offset : offset + len(specs)]
            offset += len(specs)
            by_name = {spec.name: job for spec, job in zip(specs, mine, strict=True)}
            result.append((workflow_id, by_name))
            pks = {name: job.id for name, job in by_name.items()}
            for spec in specs:
                pk = pks[spec.name]
                steps.append((pk, workflow_id, spec.name, len(spec.deps), spec.ignore_failed_deps))
                for dep in spec.deps:
                    edges.append((workflow_id, pks[dep], pk))
        ops.workflow_insert_steps(steps, edges)
        _notify(jobs)
        hooks.after_insert(jobs)
        tracing.enqueued(span, jobs)
    if get_settings().TESTING == "inline":
        return _run_inline(result, jobs)
    return result


def _run_inline(
    result: list[tuple[uuid.UUID, dict[str, Job]]], jobs: list[Job]
) -> list[tuple[uuid.UUID, dict[str, Job]]]:
    """Run the workflows to their end now, in dependency order; return their steps as they ended."""
    from ..testing.inline import run_inserted

    ended = {job.id: job for job in run_inserted(jobs)}
    return [(pk, {name: ended[job.id] for name, job in steps.items()}) for pk, steps in result]


def add_step(workflow_id: Any, spec: StepSpec, *, dependents: Sequence[str] = ()) -> Job:
    """Add a step to a running workflow; it waits for ``spec.deps``, and ``dependents`` wait for it.

    Dependencies that already completed count as met; one that failed refuses
    the step unless it ignores failed dependencies. Each step in
    ``dependents`` must still be waiting.
    """
    from .models import Workflow, WorkflowEdge, WorkflowStep

    ops = get_ops()
    alias = ops.alias
    with transaction.atomic(using=alias):
        # The workflow row first: the release takes it first too, so the two
        # wait for each other instead of deadlocking.
        if not ops.workflow_grow(workflow_id, 1):
            if not Workflow.objects.using(alias).filter(pk=workflow_id).exists():
                raise WorkflowError(f"Workflow {workflow_id} does not exist.")
            raise WorkflowError(
                f"Workflow {workflow_id} already finished; step {spec.name!r} cannot join it. "
                "Add steps from a step of the workflow while it runs."
            )
        if WorkflowStep.objects.using(alias).filter(workflow_id=workflow_id, name=spec.name).exists():
            raise DuplicateStepError(
                f"Workflow {workflow_id} already has a step named {spec.name!r}; pick another name."
            )
        named = ops.workflow_lock_steps(workflow_id, [*spec.deps, *dependents])
        missing = [n for n in (*spec.deps, *dependents) if n not in named]
        if missing:
            raise UnknownDependencyError(
                f"Step {spec.name!r} names {missing[0]!r}, which is no step of workflow {workflow_id}."
            )
        if dependents and spec.deps:
            # A dependent that a dependency already waits for would close a cycle.
            edges: dict[str, list[str]] = {}
            by_id = dict(
                WorkflowStep.objects.using(alias)
                .filter(workflow_id=workflow_id)
                .values_list("job_id", "name")
            )
            for a, b in (
                WorkflowEdge.objects.using(alias)
                .filter(workflow_id=workflow_id)
                .values_list("dependency_id", "dependent_id")
            ):
                edges.setdefault(by_id.get(a, ""), []).append(by_id.get(b, ""))
            hit = reaches(edges, dependents, spec.deps)
            if hit is not None:
                raise CycleError([spec.name, *[d for d in dependents if reaches(edges, [d], [hit])][:1], hit])
        from ..models import Job

        done_ids = [pk for pk, done in (named[d] for d in spec.deps) if done]
        states = dict(Job.objects.using(alias).filter(pk__in=done_ids).values_list("pk", "state"))
        pending = 0
        for dep in spec.deps:
            pk, done = named[dep]
            if not done:
                pending += 1
            elif states.get(pk) in FAILED_STATES and not spec.ignore_failed_deps:
                raise WorkflowError(
                    f"Step {spec.name!r} depends on {dep!r} (job {pk}), which ended {states.get(pk)}; "
                    "it could never run. Pass ignore_failed_deps=True to run it anyway."
                )
        row = _row(spec, str(workflow_id), pending > 0)
        job = ops.job_insert_many([row], chunk_size=1)[0]
        _refuse_duplicates([spec], [job])
        edges_out: list[EdgeRow] = [(workflow_id, named[d][0], int(job.pk)) for d in spec.deps]
        edges_out += [(workflow_id, int(job.pk), named[d][0]) for d in dependents]
        step: StepRow = (int(job.pk), workflow_id, spec.name, pending, spec.ignore_failed_deps)
        ops.workflow_insert_steps([step], edges_out)
        if dependents:
            waiting = ops.workflow_add_waiting(workflow_id, {named[d][0]: 1 for d in dependents})
            if waiting < len(set(dependents)):
                raise WorkflowError(
                    f"Step {spec.name!r}: some of {list(dependents)} already started or ended, so they "
                    "cannot wait for a new step. Name only steps that are still waiting."
                )
        _notify([job])
        hooks.after_insert([job])
    if get_settings().TESTING == "inline" and job.state != JobState.WAITING:
        from ..testing.inline import join_run, run_inserted

        # Inside an inline run (the step adding it), the new step joins it.
        if not join_run([copy(job)]):
            return run_inserted([job])[0]
    return job


def dependency_results(job_id: int) -> dict[str, Any]:
    """Return ``step name -> result`` of the steps job ``job_id`` depends on (None where none was kept)."""
    from ..models import Job
    from .models import WorkflowEdge, WorkflowStep

    alias = get_ops().alias
    edges = WorkflowEdge.objects.using(alias).filter(dependent_id=job_id)
    ids = list(edges.values_list("dependency_id", flat=True))
    names = dict(WorkflowStep.objects.using(alias).filter(job_id__in=ids).values_list("job_id", "name"))
    results = dict(Job.objects.using(alias).filter(pk__in=ids).values_list("pk", "result"))
    return {names[pk]: results.get(pk) for pk in ids if pk in names}


__all__ = ["STEP_KEY", "WORKFLOW_KEY", "StepSpec", "add_step", "dependency_results", "insert_workflows"]
