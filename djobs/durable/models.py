"""The saved progress of a job that uses durable steps or iterations: a row of its own.

Kept apart from ``djobs_job`` so the claimed row stays lean and a checkpoint
rewrites a small row with one index, not the job's. ``job_id`` has no foreign
key: the pruner deletes the rows whose job is gone, whichever way it went.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone as dj_timezone


def _empty_list() -> list[Any]:
    return []


def _empty_dict() -> dict[str, Any]:
    return {}


class JobProgress(models.Model):
    """Finished steps (with their results), iteration cursors and interruptions of one job."""

    job_id = models.BigIntegerField(primary_key=True)
    #: ``[[name, result], ...]`` in the order the steps finished.
    steps = models.JSONField(default=_empty_list, blank=True)
    #: ``{name: {"cursor": ..., "items": n, "done": bool}}``.
    iterations = models.JSONField(default=_empty_dict, blank=True)
    interruptions = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        app_label = "djobs"
        db_table = "djobs_job_progress"
        verbose_name = "job progress"
        verbose_name_plural = "job progress"

    def __str__(self) -> str:
        return f"progress of job {self.job_id}"
