"""The errors a workflow definition can raise; nothing is written when one is raised."""

from __future__ import annotations

from ..exceptions import DjobsError


class WorkflowError(DjobsError, ValueError):
    """A workflow cannot be enqueued or extended as given; nothing was written."""


class EmptyWorkflowError(WorkflowError):
    """A workflow with no steps was enqueued: add a step with ``wf.add(name, fn.new(...))`` first."""


class DuplicateStepError(WorkflowError):
    """Two steps of one workflow have the same name; step names must be unique within it."""


class UnknownDependencyError(WorkflowError):
    """A step depends on a name that is no step of its workflow."""


class CycleError(WorkflowError):
    """The steps depend on each other in a cycle, so none of them could ever start."""

    def __init__(self, cycle: list[str]) -> None:
        path = " -> ".join(repr(name) for name in [*cycle, cycle[0]])
        super().__init__(
            f"Workflow steps depend on each other in a cycle: {path} (each waits for the next). "
            "Remove one of these dependencies."
        )
        self.cycle = cycle


__all__ = [
    "CycleError",
    "DuplicateStepError",
    "EmptyWorkflowError",
    "UnknownDependencyError",
    "WorkflowError",
]
