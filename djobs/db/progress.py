"""Saved progress of durable steps and iterations (djobs_job_progress): read, save fenced, delete.

Written once for every database: a save is an UPDATE, then an INSERT ... SELECT
when the row does not exist yet, both conditioned on the job still executing
under the saving worker and attempt, like outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .alias import AliasOps

if TYPE_CHECKING:
    from ..durable.models import JobProgress

# The job is still this worker's attempt: a rescued worker's late save is dropped.
_HELD = "SELECT 1 FROM djobs_job WHERE id = %s AND state = 'executing' AND worker_id = %s AND attempt = %s"


class ProgressOps(AliasOps):
    """The progress part of :class:`djobs.db.base.DatabaseOps`."""

    def progress_get(self, job_id: int) -> JobProgress | None:
        """Return the saved progress of job ``job_id``, or None (one primary-key read)."""
        from ..durable.models import JobProgress

        return JobProgress.objects.using(self.alias).filter(job_id=job_id).first()

    def progress_get_many(self, job_ids: Sequence[int]) -> dict[int, JobProgress]:
        """Return ``job id -> progress`` for the jobs among ``job_ids`` that saved some."""
        from ..durable.models import JobProgress

        rows = JobProgress.objects.using(self.alias).filter(job_id__in=list(job_ids))
        return {row.job_id: row for row in rows}

    def progress_save(
        self,
        *,
        job_id: int,
        attempt: int,
        worker_id: str,
        steps: list[Any],
        iterations: dict[str, Any],
        interruptions: int,
        now: Any,
    ) -> bool:
        """Write a job's progress if the job is still executing under ``worker_id`` and ``attempt``.

        Returns whether it was written.
        """
        values: list[Any] = [
            self.connection.ops.adapt_json_value(steps, None),
            self.connection.ops.adapt_json_value(iterations, None),
            interruptions,
            self.connection.ops.adapt_datetimefield_value(now),
        ]
        held: list[Any] = [job_id, worker_id, attempt]
        with self.connection.cursor() as cursor:
            cursor.execute(
                "UPDATE djobs_job_progress SET steps = %s, iterations = %s, interruptions = %s, "
                f"updated_at = %s WHERE job_id = %s AND EXISTS ({_HELD})",
                [*values, job_id, *held],
            )
            if cursor.rowcount:
                return True
            # No row yet (its first save): only the holder can insert it, so no race.
            cursor.execute(
                "INSERT INTO djobs_job_progress (job_id, steps, iterations, interruptions, updated_at) "
                "SELECT %s, %s, %s, %s, %s FROM djobs_job "
                "WHERE id = %s AND state = 'executing' AND worker_id = %s AND attempt = %s",
                [job_id, *values, *held],
            )
            return bool(cursor.rowcount)

    def progress_delete(self, job_ids: Sequence[int]) -> int:
        """Delete the saved progress of ``job_ids`` (a retry from the start); return how many."""
        from ..durable.models import JobProgress

        deleted, _ = JobProgress.objects.using(self.alias).filter(job_id__in=list(job_ids)).delete()
        return deleted

    def progress_delete_orphans(self, *, limit: int) -> int:
        """Delete up to ``limit`` progress rows whose job is gone (pruned or deleted); return how many."""
        with self.connection.cursor() as cursor:
            # Two statements: MySQL cannot delete from a table its own subquery reads.
            cursor.execute(
                "SELECT p.job_id FROM djobs_job_progress p LEFT JOIN djobs_job j ON j.id = p.job_id "
                "WHERE j.id IS NULL LIMIT %s",
                [limit],
            )
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return 0
            placeholders = ", ".join(["%s"] * len(ids))
            cursor.execute(f"DELETE FROM djobs_job_progress WHERE job_id IN ({placeholders})", ids)
            return int(cursor.rowcount)


__all__ = ["ProgressOps"]
