"""PostgreSQL: SKIP LOCKED claims and LISTEN/NOTIFY wake-ups."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..conf import get_settings
from ..states import STATE_BITS
from .base import _INSERT_COLUMNS as INSERT_COLUMNS
from .base import _PLACEHOLDERS as PLACEHOLDERS
from .base import DatabaseOps, dispatcher_thread

if TYPE_CHECKING:
    from ..enqueue import PendingJob
    from ..models import Job

# One channel for the whole database; the payload is the queue name, so a
# worker can ignore wake-ups for queues it does not serve.
NOTIFY_CHANNEL = "djobs_insert"


def _keep_key(bit_sql: str, prefix: str = "") -> str:
    # Clear the unique key in the same statement that moves a job to a state its
    # uniqueness does not cover (unique_states is a bit mask, djobs.states.STATE_BITS).
    return f"CASE WHEN {prefix}unique_states & {bit_sql} <> 0 THEN {prefix}unique_key ELSE NULL END"


def _claim_sql(columns: str) -> str:
    # The CTE is a fence: the planner must pick (and lock) at most LIMIT rows
    # first, then update exactly those. Written as `WHERE id IN (SELECT ... LIMIT)`
    # the planner may re-run the subquery per row and update more than asked for.
    # The outer SELECT hands the jobs over in dispatch order.
    return f"""
        WITH picked AS MATERIALIZED (
            SELECT id FROM djobs_job
            WHERE state = 'available' AND queue = %s
            ORDER BY priority, scheduled_at, id
            LIMIT %s
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE djobs_job AS j
            SET state = 'executing', attempt = j.attempt + 1, attempted_at = %s, worker_id = %s,
                unique_key = {_keep_key(str(STATE_BITS["executing"]), "j.")}
            FROM picked WHERE j.id = picked.id
            RETURNING {columns}
        )
        SELECT * FROM claimed ORDER BY priority, scheduled_at, id
    """


# Outcomes arrive as one JSON array of objects: a single C-level json.dumps on
# the client, instead of adapting nine arrays element by element.
_RECORD_SQL = f"""
    UPDATE djobs_job AS j SET
        state = v.state,
        attempt = j.attempt + v.delta,
        scheduled_at = COALESCE(v.scheduled_at, j.scheduled_at),
        finished_at = v.finished_at,
        result = v.result,
        errors = CASE WHEN v.error IS NULL THEN j.errors
                      ELSE j.errors || jsonb_build_array(v.error) END,
        unique_key = {_keep_key("v.bit", "j.")}
    FROM json_to_recordset(%s::json) AS v(
        id bigint, attempt int, state text, delta int, scheduled_at timestamptz,
        finished_at timestamptz, result jsonb, error jsonb, bit int
    )
    -- COALESCE keeps the planner on the primary key: the worker_id index would
    -- walk every executing row of this worker (and their dead versions).
    WHERE j.id = v.id AND j.state = 'executing' AND COALESCE(j.worker_id, '') = %s
      AND j.attempt = v.attempt
    RETURNING j.id
"""


def _entry_sql(error: str) -> str:
    return (
        "jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', %s::text, "
        f"'error', {error}, 'traceback', NULL))"
    )


_AVAILABLE = STATE_BITS["available"]
_DISCARDED = STATE_BITS["discarded"]

_RESCUE_SQL = f"""
    UPDATE djobs_job SET
        state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'available' END,
        finished_at = CASE WHEN attempt >= max_attempts THEN %s::timestamptz ELSE NULL END,
        scheduled_at = %s,
        errors = errors || {
    _entry_sql(
        "'WorkerLost: worker ' || COALESCE(worker_id, '(none)') || "
        "' stopped heartbeating while running this attempt; the job was rescued'"
    )
},
        unique_key = CASE WHEN attempt >= max_attempts THEN {_keep_key(str(_DISCARDED))}
                          ELSE {_keep_key(str(_AVAILABLE))} END,
        worker_id = NULL
    WHERE state = 'executing' AND (
        worker_id IS NULL
        OR worker_id NOT IN (SELECT id FROM djobs_worker WHERE heartbeat_at >= %s)
    )
    RETURNING id, state, queue, meta
"""

_RELEASE_SQL = f"""
    UPDATE djobs_job SET
        state = 'available', attempt = GREATEST(attempt - 1, 0), scheduled_at = %s,
        errors = errors || {
    _entry_sql(
        "'WorkerReleased: the worker shut down before this attempt finished; "
        "it will run again and the attempt is not counted'"
    )
},
        unique_key = {_keep_key(str(_AVAILABLE))},
        worker_id = NULL
    WHERE state = 'executing' AND worker_id = %s AND id = ANY(%s::bigint[])
    RETURNING id
"""

# Batch ids are compared without dashes: the batch table may store them either way.
_DELETE_SQL = """
    DELETE FROM djobs_job WHERE id IN (
        SELECT j.id FROM djobs_job AS j
        WHERE j.state = %s AND j.finished_at < %s
          AND NOT EXISTS (
            SELECT 1 FROM djobs_batch AS b
            WHERE b.state <> 'finished'
              AND replace(b.id::text, '-', '') = replace(lower(j.meta->>'batch_id'), '-', '')
          )
        LIMIT %s
    )
"""

_STAGE_SQL = f"""
    WITH due AS MATERIALIZED (
        SELECT id FROM djobs_job
        WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= %s
        ORDER BY scheduled_at
        LIMIT %s
        FOR UPDATE SKIP LOCKED
    )
    UPDATE djobs_job AS j SET state = 'available',
        unique_key = {_keep_key(str(_AVAILABLE), "j.")}
    FROM due WHERE j.id = due.id
    RETURNING j.queue
"""


class _PostgresDispatch(DatabaseOps):
    """The dispatcher's SQL on PostgreSQL."""

    @contextmanager
    def _hot_cursor(self) -> Iterator[Any]:
        """Yield a server-side-binding cursor whose statements are prepared.

        The claim and outcome statements run thousands of times a second; with
        Django's client-side binding each would be planned again, and planning
        reads the ends of the claim index, which are full of dead entries while
        a queue drains. The dispatcher's session also skips waiting for the WAL
        flush (DJOBS["ASYNC_COMMIT"]); a database crash can only make a job run again.
        Other callers get the prepared statements only.
        """
        import psycopg

        wrapper = self.connection
        with wrapper.wrap_database_errors:
            wrapper.ensure_connection()
            raw = wrapper.connection
            # Only the dispatcher's own threads (claimers, recorder) change their
            # session: a web request or job calling this keeps full durability.
            if (
                getattr(dispatcher_thread, "active", False)
                and getattr(wrapper, "_djobs_tuned", None) is not raw
                and not wrapper.in_atomic_block
            ):
                if get_settings().ASYNC_COMMIT:
                    raw.execute("SET synchronous_commit = off")
                wrapper._djobs_tuned = raw  # type: ignore[attr-defined]
            with psycopg.Cursor(raw) as cursor:
                yield cursor

    def job_claim(self, *, queue: str, limit: int, worker_id: str, now: Any) -> list[Job]:
        sql = _claim_sql(", ".join(f"j.{c}" for c in self.CLAIM_COLUMNS))
        with self._hot_cursor() as cursor:
            cursor.execute(sql, [queue, limit, now, worker_id], prepare=True, binary=True)
            rows = cursor.fetchall()
        return self.jobs_from_rows(rows, worker_id=worker_id, now=now) if rows else []

    def job_stage(self, *, now: Any, limit: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._hot_cursor() as cursor:
            cursor.execute(_STAGE_SQL, [now, limit], prepare=True)
            for (queue,) in cursor.fetchall():
                counts[queue] = counts.get(queue, 0) + 1
        return counts

    def job_record_outcomes(self, *, worker_id: str, outcomes: Sequence[Any]) -> set[int]:
        items = []
        for job, t in outcomes:
            items.append(
                {
                    "id": job.id,
                    "attempt": job.attempt,
                    "state": t.state,
                    "delta": t.attempt_delta,
                    "scheduled_at": None if t.scheduled_at is None else t.scheduled_at.isoformat(),
                    "finished_at": None if t.finished_at is None else t.finished_at.isoformat(),
                    "result": t.result,
                    "error": t.error,
                    "bit": STATE_BITS[t.state],
                }
            )
        with self._hot_cursor() as cursor:
            cursor.execute(_RECORD_SQL, [json.dumps(items), worker_id], prepare=True)
            return {row[0] for row in cursor.fetchall()}

    def job_rescue(self, *, stale_before: Any, now: Any) -> list[tuple[int, str, str, Any]]:
        with self.connection.cursor() as cursor:
            cursor.execute(_RESCUE_SQL, [now, now, now.isoformat(), stale_before])
            return [
                (pk, state, queue, json.loads(meta) if isinstance(meta, str) else meta)
                for pk, state, queue, meta in cursor.fetchall()
            ]

    def job_release(self, *, worker_id: str, ids: Sequence[int], now: Any) -> list[int]:
        with self.connection.cursor() as cursor:
            cursor.execute(_RELEASE_SQL, [now, now.isoformat(), worker_id, list(ids)])
            return [row[0] for row in cursor.fetchall()]

    def job_delete_finished(self, *, state: str, before: Any, limit: int) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(_DELETE_SQL, [state, before, limit])
            return int(cursor.rowcount)

    # -- LISTEN ------------------------------------------------------------------

    def listen_connect(self) -> Any:
        """Open a dedicated autocommit connection LISTENing on NOTIFY_CHANNEL."""
        import psycopg

        params = dict(self.connection.get_connection_params())
        for key in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(key, None)
        conn = psycopg.connect(autocommit=True, **params)
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return conn

    def listen_wait(self, conn: Any, timeout: float) -> list[str]:
        """Wait up to ``timeout`` s for notifications; return their payloads (queue names)."""
        return [n.payload for n in conn.notifies(timeout=timeout, stop_after=1)] + [
            n.payload for n in conn.notifies(timeout=0)
        ]


class PostgresOps(_PostgresDispatch):
    supports_skip_locked = True
    supports_listen_notify = True

    def notify_inserted(self, queues: Sequence[str]) -> None:
        # Sent inside the enqueuing transaction: PostgreSQL delivers it at commit,
        # and never if the transaction rolls back.
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_notify(%s, q) FROM unnest(%s::text[]) AS q",
                [NOTIFY_CHANNEL, list(queues)],
            )

    def _insert_plain(self, rows: Sequence[PendingJob], chunk_size: int) -> list[Job]:
        # Small inserts stay a plain INSERT (one round trip); bulks go through COPY.
        if len(rows) < 50:
            return super()._insert_plain(rows, chunk_size)
        from .postgres_copy import copy_insert

        return copy_insert(self.connection, self.alias, rows, chunk_size, self._new_job)

    # -- batches -----------------------------------------------------------------

    def batch_has_active_jobs(self, *, key: str) -> bool:
        # Equal keys sit in the index in heap order, and a batch's jobs finish
        # roughly in the order they were inserted, so the entries of finished
        # jobs (dead until vacuum) pile up in front of the live ones. Walking the
        # index backwards starts at the jobs inserted last, which are still live
        # until the very end: the probe stays one index page however far along.
        # (With `= key` the planner drops the ORDER BY as constant; a closed
        # range keeps it, and so the backward scan.) A plain cursor, not the
        # dispatcher's tuned one: a seal in a web request must not turn off
        # synchronous_commit for the rest of that connection's life.
        with self.connection.cursor() as cursor:
            cursor.execute(
                """SELECT 1 FROM djobs_job
                   WHERE (meta ->> 'batch_id') >= %s AND (meta ->> 'batch_id') <= %s
                     AND state IN ('available', 'executing', 'retryable', 'scheduled')
                   ORDER BY (meta ->> 'batch_id') DESC LIMIT 1""",
                [key, key],
            )
            return cursor.fetchone() is not None

    supports_single_statement_insert = True

    def job_insert_one(self, row: PendingJob, *, notify: bool) -> Job:
        # One round trip instead of four (BEGIN, INSERT, NOTIFY, COMMIT): on an
        # idle machine each round trip can cost a millisecond of wake-up, and this
        # is the path of every single enqueue made outside a transaction.
        insert = f"INSERT INTO djobs_job ({', '.join(INSERT_COLUMNS)}) VALUES {PLACEHOLDERS} RETURNING id"
        params = self._row_params(row)
        if notify:
            sql = f"WITH ins AS ({insert}) SELECT ins.id, pg_notify(%s, %s) FROM ins"
            params += [NOTIFY_CHANNEL, row.queue]
        else:
            sql = insert
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            pk = cursor.fetchone()[0]
        job = self._new_job(row)
        job.pk = pk
        job._state.adding = False
        job._state.db = self.alias
        return job
