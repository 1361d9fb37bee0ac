"""``Workflow`` and ``chain``: jobs that start once the jobs they depend on completed."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..enqueue import PendingJob
from .errors import DuplicateStepError, WorkflowError
from .graph import check_graph
from .store import StepSpec, insert_workflows

if TYPE_CHECKING:
    from ..models import Job


def _check_job(name: str, job: object) -> None:
    if not isinstance(job, PendingJob):
        raise TypeError(
            f"Step {name!r}: {job!r} is not a job; build it with my_job.new(...) (or .using(...).new)."
        )


def check_step(name: str, job: PendingJob, deps: Iterable[str], ignore_failed_deps: bool) -> StepSpec:
    """Return the step declared by these arguments, or raise naming what is wrong with them."""
    if not isinstance(name, str) or not name:
        raise WorkflowError(f"Step name {name!r} is not valid; use a non-empty string.")
    _check_job(name, job)
    if isinstance(deps, str):
        raise TypeError(f"Step {name!r}: deps={deps!r} must be a list of step names, not a string.")
    names = tuple(deps)
    if len(set(names)) != len(names):
        raise DuplicateStepError(f"Step {name!r} lists a dependency twice: {list(names)}.")
    return StepSpec(name, job, names, bool(ignore_failed_deps))


class Workflow:
    """A graph of jobs: each step starts when the steps it depends on completed.

    ::

        wf = Workflow("import 42")
        wf.add("fetch", fetch_feed.new(42))
        wf.add("parse", parse_feed.new(42), deps=["fetch"])
        wf.add("index", index_items.new(42), deps=["parse"])
        wf.add("thumbs", make_thumbnails.new(42), deps=["parse"])
        wf.add("notify", notify_owner.new(42), deps=["index", "thumbs"])
        jobs = wf.enqueue()          # {"fetch": Job, ...}, all in one transaction

    A step whose dependency ends discarded or cancelled is cancelled (and so
    on down the graph), unless it was added with ``ignore_failed_deps=True``.
    Nothing is checked against the database until :meth:`enqueue`, which
    validates the graph first and writes nothing if it is wrong.
    """

    def __init__(self, name: str = "") -> None:
        if not isinstance(name, str):
            raise TypeError(f"Workflow name {name!r} must be a string.")
        self.name = name
        self.steps: dict[str, StepSpec] = {}
        #: Set by :meth:`enqueue`: the workflow's row id.
        self.id: uuid.UUID | None = None

    def add(
        self,
        name: str,
        job: PendingJob,
        *,
        deps: Iterable[str] = (),
        ignore_failed_deps: bool = False,
    ) -> str:
        """Add step ``name`` running ``job`` once every step in ``deps`` completed; return ``name``."""
        spec = check_step(name, job, deps, ignore_failed_deps)
        if name in self.steps:
            raise DuplicateStepError(
                f"Workflow {self.name or '(unnamed)'} already has a step named {name!r}; step names "
                "must be unique within a workflow."
            )
        self.steps[name] = spec
        return name

    def enqueue(self) -> dict[str, Job]:
        """Validate the graph, then insert every step in one transaction; return ``name -> Job``.

        Steps with no dependencies are runnable at once; the others wait.
        """
        return Workflow.enqueue_many([self])[0]

    @staticmethod
    def enqueue_many(workflows: Iterable[Workflow]) -> list[dict[str, Job]]:
        """Enqueue several workflows in one transaction; one bad graph refuses them all."""
        items = list(workflows)
        for index, item in enumerate(items):
            if not isinstance(item, Workflow):
                raise TypeError(f"Workflow.enqueue_many item {index} is {item!r}; pass Workflow objects.")
        ordered = []
        for item in items:
            order = check_graph({name: spec.deps for name, spec in item.steps.items()})
            ordered.append((item.name, [item.steps[name] for name in order]))
        inserted = insert_workflows(ordered)
        for item, (workflow_id, _) in zip(items, inserted, strict=True):
            item.id = workflow_id
        return [
            {name: jobs[name] for name in item.steps} for item, (_, jobs) in zip(items, inserted, strict=True)
        ]


def chain(*jobs: PendingJob, name: str = "") -> Workflow:
    """Return a workflow running ``jobs`` one after the other; call ``.enqueue()`` on it.

    Steps are named ``"1"``, ``"2"``... in order. ::

        chain(charge.new(order_id), ship.new(order_id), email_receipt.new(order_id)).enqueue()
    """
    workflow = Workflow(name)
    previous: list[str] = []
    for index, job in enumerate(jobs, start=1):
        previous = [workflow.add(str(index), job, deps=previous)]
    return workflow


__all__ = ["Workflow", "chain"]
