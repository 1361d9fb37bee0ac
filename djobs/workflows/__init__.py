"""Workflows: jobs that wait for other jobs (``Workflow``, ``chain``).

Names are imported on first use: ``djobs.models`` imports this package's
``models`` module while the app registry loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Workflow, chain
    from .errors import (
        CycleError,
        DuplicateStepError,
        EmptyWorkflowError,
        UnknownDependencyError,
        WorkflowError,
    )

_LAZY = {
    "Workflow": "api",
    "chain": "api",
    "CycleError": "errors",
    "DuplicateStepError": "errors",
    "EmptyWorkflowError": "errors",
    "UnknownDependencyError": "errors",
    "WorkflowError": "errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'djobs.workflows' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)


__all__ = [
    "CycleError",
    "DuplicateStepError",
    "EmptyWorkflowError",
    "UnknownDependencyError",
    "Workflow",
    "WorkflowError",
    "chain",
]
