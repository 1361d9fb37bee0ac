"""Job state changes made outside the dispatcher: operators' actions and the testing helpers.

They are rare and act on selections (a queryset the admin or a command built),
so they are written once with the ORM, which every database shares. Each is
one conditional UPDATE whose WHERE names the states it may act on, and each
applies the unique-key rule the dispatcher's SQL applies (djobs.db.fragments):
a key is kept only in the states its job covers, and a job coming back to a
covered state takes its key again where it is free.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Case, F, JSONField, PositiveIntegerField, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.lookups import GreaterThan

from ..states import STATE_BITS, JobState
from .alias import AliasOps
from .fragments import MovedJob

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from ..models import Job


def kept_key(state: str) -> Case:
    """Return the ORM expression keeping ``unique_key`` only where the row's mask covers ``state``."""
    return Case(
        When(GreaterThan(F("unique_states").bitand(STATE_BITS[state]), 0), then=F("unique_key")),
        default=Value(None),
    )


class OperatorOps(AliasOps):
    """The operator and testing half of :class:`djobs.db.base.DatabaseOps`."""

    def job_restore_unique(self, ids: Sequence[int]) -> int:
        raise NotImplementedError

    def _keyless(self, jobs: QuerySet[Job]) -> list[int]:
        """Return the ids of unique jobs in ``jobs`` whose key was cleared (candidates to take it back)."""
        return list(
            jobs.filter(unique_key__isnull=True, unique_base__isnull=False).values_list("pk", flat=True)
        )

    def _make_available(self, jobs: QuerySet[Job], **changes: Any) -> int:
        with transaction.atomic(using=self.alias):
            keyless = self._keyless(jobs)
            count = jobs.update(state=JobState.AVAILABLE, unique_key=kept_key(JobState.AVAILABLE), **changes)
            if keyless:
                self.job_restore_unique(keyless)
        return count

    def job_retry(self, jobs: QuerySet[Job], *, now: datetime) -> int:
        """Make ``jobs`` available now; one with no attempt left gets one more. Return the count."""
        return self._make_available(
            jobs,
            scheduled_at=now,
            finished_at=None,
            max_attempts=Case(
                When(attempt__gte=F("max_attempts"), then=F("attempt") + 1),
                default=F("max_attempts"),
                output_field=PositiveIntegerField(),
            ),
        )

    def job_run_now(self, jobs: QuerySet[Job], *, now: datetime) -> int:
        """Make waiting ``jobs`` available now; return the count."""
        return self._make_available(jobs, scheduled_at=now)

    def job_make_available(self, jobs: QuerySet[Job]) -> int:
        """Make ``jobs`` available, leaving their times alone (a test drain's staging)."""
        return self._make_available(jobs)

    def job_cancel(self, jobs: QuerySet[Job], *, now: datetime) -> list[MovedJob]:
        """Cancel ``jobs`` (a running one's late outcome is then fenced out); return the cancelled rows."""
        ids = list(jobs.values_list("pk", flat=True))
        if not ids:
            return []
        mine = jobs.model.objects.using(self.alias).filter(pk__in=ids)
        with transaction.atomic(using=self.alias):
            keyless = self._keyless(mine)
            # Still in the states ``jobs`` selected: one that moved on meanwhile is left.
            count = jobs.filter(pk__in=ids).update(
                state=JobState.CANCELLED, finished_at=now, unique_key=kept_key(JobState.CANCELLED)
            )
            if not count:
                return []
            # Among this call's ids, the rows it cancelled carry its exact finished_at.
            rows = mine.filter(state=JobState.CANCELLED, finished_at=now).values_list(
                "id", "state", "queue", "meta"
            )
            cancelled = [MovedJob(pk, state, queue, meta or {}, False) for pk, state, queue, meta in rows]
            if keyless:
                self.job_restore_unique(keyless)
        return cancelled

    def job_mark_executing(self, job: Job, *, worker_id: str, now: datetime) -> bool:
        """Move one waiting ``job`` (as last read) to executing under ``worker_id``, started at ``now``.

        Fenced on the state and attempt read: False if it moved on meanwhile.
        """
        rows = job.__class__.objects.using(self.alias).filter(pk=job.pk, state=job.state, attempt=job.attempt)
        moved = rows.update(
            state=JobState.EXECUTING,
            attempt=F("attempt") + 1,
            attempted_at=now,
            worker_id=worker_id,
            unique_key=kept_key(JobState.EXECUTING),
        )
        if moved and job.unique_base is not None:
            self.job_restore_unique([job.pk])
        return bool(moved)

    def job_note_cancelled(self, ids: Sequence[int], *, now: datetime) -> int:
        """Append a ``JobCancelled`` error, naming the attempt and its worker, to the cancelled ``ids``."""
        if not ids:
            return 0
        fields = (
            "'attempt', attempt, 'at', CAST(%s AS TEXT), 'error', CAST(%s AS TEXT), 'traceback', NULL, "
            "'exception', CAST(%s AS TEXT), 'worker_id', worker_id"
        )
        params = [now.isoformat(), "JobCancelled: cancelled by an operator", "djobs.exceptions.JobCancelled"]
        from ..models import Job

        rows = Job.objects.using(self.alias).filter(pk__in=list(ids), state=JobState.CANCELLED)
        return rows.update(errors=RawSQL(self.append_error_sql(fields), params, output_field=JSONField()))

    def append_error_sql(self, fields: str) -> str:
        """Return SQL for ``errors`` with the object of ``fields`` (``'key', sql, ...``) appended."""
        raise NotImplementedError


__all__ = ["OperatorOps", "kept_key"]
