"""PostgreSQL: an atomic job's completion as one prepared single-row statement.

``job_record_outcomes`` takes a batch as a JSON array joined through
``json_to_recordset``: right for the recorder's hundreds of outcomes, but per
atomic job it costs a JSON encoding and a join for one row. This statement is
the same fenced write for one completed job, bound in binary and prepared
once per connection.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..states import STATE_BITS
from ..transitions import COMPLETED
from .fragments import keep_key, rekey

if TYPE_CHECKING:
    from ..models import Job

# The fence as in _RECORD_SQL (djobs.db.postgres): found by primary key, never
# through the executing index.
_COMPLETE_ONE_SQL = f"""
    UPDATE djobs_job SET
        state = 'completed',
        attempted_at = COALESCE(%s::timestamptz, attempted_at),
        finished_at = %s::timestamptz,
        result = %s::jsonb,
        unique_key = {keep_key(str(STATE_BITS["completed"]))}
    WHERE id = %s::bigint AND (state = 'executing') IS TRUE AND COALESCE(worker_id, '') = %s::text
      AND attempt = %s::int
    RETURNING id, {rekey()}
"""


class PostgresAtomic:
    """``job_complete_in_transaction`` for PostgreSQL (mixed into PostgresOps)."""

    def job_complete_in_transaction(self, *, worker_id: str, job: Job, transition: Any) -> bool:
        if transition.outcome != COMPLETED or transition.error is not None or transition.attempt_delta:
            return super().job_complete_in_transaction(  # type: ignore[misc]
                worker_id=worker_id, job=job, transition=transition
            )
        if not self.connection.in_atomic_block:  # type: ignore[attr-defined]
            raise RuntimeError("job_complete_in_transaction needs the caller's transaction.atomic()")
        result = None if transition.result is None else json.dumps(transition.result)
        params = [job.attempted_at, transition.finished_at, result, job.id, worker_id, job.attempt]
        with self._hot_cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute(_COMPLETE_ONE_SQL, params, prepare=self._prepare)  # type: ignore[attr-defined]
            row = cursor.fetchone()
        if row is None:
            return False
        if row[1]:
            self.job_restore_unique([row[0]])  # type: ignore[attr-defined]
        return True


__all__ = ["PostgresAtomic"]
