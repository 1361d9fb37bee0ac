"""The errors batches raise; each says what went wrong and how to fix it."""

from __future__ import annotations

from ..exceptions import DjobsError


class BatchError(DjobsError):
    """A batch cannot do what was asked (sealed twice, no batch to add to)."""


class BatchFinishedError(BatchError):
    """The batch already finished and fired its callbacks; no job can join it any more."""


__all__ = ["BatchError", "BatchFinishedError"]
