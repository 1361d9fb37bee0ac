"""djobs: background jobs, batches and periodic schedules in your Django database.

::

    from djobs import job

    @job(queue="emails", max_attempts=5)
    def send_welcome(user_id: int) -> None: ...

    send_welcome.enqueue(42)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .decorators import Call, JobFunction, job
from .exceptions import (
    DjobsError,
    EnqueueError,
    JobDefinitionError,
    JobTimeout,
    NotJSONError,
    UnknownJobError,
    UnstorableValueError,
)
from .outcomes import Cancel, Discard, Snooze
from .signals import job_finished, job_started

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .batches import batch
    from .enqueue import enqueue_many
    from .workflows import Workflow, chain

# Names that need the app registry are imported on first use, so that
# ``import djobs`` works in settings files and before django.setup().
_LAZY = {
    "enqueue_many": "djobs.enqueue",
    "batch": "djobs.batches",
    "Workflow": "djobs.workflows",
    "chain": "djobs.workflows",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'djobs' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)


__all__ = [
    "Call",
    "Cancel",
    "Discard",
    "DjobsError",
    "EnqueueError",
    "JobDefinitionError",
    "JobFunction",
    "JobTimeout",
    "NotJSONError",
    "Snooze",
    "UnknownJobError",
    "UnstorableValueError",
    "Workflow",
    "batch",
    "chain",
    "enqueue_many",
    "job",
    "job_finished",
    "job_started",
]
