"""Batches: groups of jobs with callbacks fired exactly once when the group is done.

::

    from djobs.batches import batch

    with batch(on_complete=notify_admin, description="weekly update") as b:
        for email in emails:
            send_update.enqueue(email)

See docs/guide/batches.md. Importing this module needs the app registry.
"""

from __future__ import annotations

from .api import BatchHandle, batch, get_batch, open_batch, progress
from .errors import BatchError, BatchFinishedError
from .specs import Callback, callback

__all__ = [
    "BatchError",
    "BatchFinishedError",
    "BatchHandle",
    "Callback",
    "batch",
    "callback",
    "get_batch",
    "open_batch",
    "progress",
]
