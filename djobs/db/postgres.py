"""PostgreSQL: SKIP LOCKED claims and LISTEN/NOTIFY wake-ups.

With ``DJOBS["TRANSACTION_POOLING"]`` (PgBouncer in transaction mode) a client
connection may reach a different server session at every transaction, so
nothing here may outlive one: no LISTEN (an idle producer watches
``change_counter()`` instead, as on MySQL), no named prepared statements, and
no ``SET`` on the session. Enqueue still sends NOTIFY: it is part of the
enqueuing transaction, and workers connected directly still hear it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..conf import get_settings
from ..states import STATE_BITS
from . import postgres_prepared as prepared
from .base import DatabaseOps, dispatcher_thread
from .fragments import (
    RESCUE_WHERE,
    RESCUED,
    MovedJob,
    give_back_params,
    give_back_sql,
    keep_key,
    moved_rows,
    rekey,
    released,
)
from .postgres_atomic import PostgresAtomic
from .postgres_inserts import PostgresInserts
from .postgres_vacuum import PostgresVacuum
from .postgres_wakeups import PostgresWakeups, pooling
from .postgres_workflows import PostgresWorkflowOps

if TYPE_CHECKING:
    from ..models import Job


def _claim_sql(columns: str) -> str:
    # The CTE is a fence: the planner must pick (and lock) at most LIMIT rows
    # first, then update exactly those. Written as `WHERE id IN (SELECT ... LIMIT)`
    # the planner may re-run the subquery per row and update more than asked for.
    # The outer SELECT hands the jobs over in dispatch order.
    return f"""
        WITH picked AS MATERIALIZED (
            SELECT id FROM djobs_job
            WHERE state = 'available' AND queue = %s
            ORDER BY priority, subpriority, scheduled_at, id
            LIMIT %s
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE djobs_job AS j
            SET state = 'executing', attempt = j.attempt + 1, attempted_at = NULL, worker_id = %s,
                unique_key = {keep_key(str(STATE_BITS["executing"]), "j.")}
            FROM picked WHERE j.id = picked.id
            RETURNING {columns}
        )
        SELECT * FROM claimed ORDER BY priority, subpriority, scheduled_at, id
    """


# Outcomes arrive as one JSON array of objects: a single C-level json.dumps on
# the client, instead of adapting nine arrays element by element.
_RECORD_SQL = f"""
    UPDATE djobs_job AS j SET
        state = v.state,
        attempt = j.attempt + v.delta,
        attempted_at = COALESCE(v.attempted_at, j.attempted_at),
        scheduled_at = COALESCE(v.scheduled_at, j.scheduled_at),
        finished_at = v.finished_at,
        result = v.result,
        errors = CASE WHEN v.error IS NULL THEN j.errors
                      ELSE j.errors || jsonb_build_array(v.error) END,
        unique_key = {keep_key("v.bit", "j.")}
    FROM json_to_recordset(%s::json) AS v(
        id bigint, attempt int, state text, delta int, attempted_at timestamptz,
        scheduled_at timestamptz, finished_at timestamptz, result jsonb, error jsonb, bit int
    )
    -- The fence is written so that the planner cannot use the partial index of
    -- executing jobs (djobs_job_executing): it would walk all of it, and every
    -- dead entry that outcomes left there since the last VACUUM (at 1M jobs
    -- drained, hundreds of pages per statement). IS TRUE hides "state =
    -- 'executing'" from the index's predicate, COALESCE hides worker_id from its
    -- key: the rows are found by primary key, one lookup per outcome.
    WHERE j.id = v.id AND (j.state = 'executing') IS TRUE AND COALESCE(j.worker_id, '') = %s
      AND j.attempt = v.attempt
    RETURNING j.id, {rekey("j.")}
"""

_MARK_STARTED_SQL = """
    UPDATE djobs_job AS j SET attempted_at = v.at
    FROM unnest(%s::bigint[], %s::int[], %s::timestamptz[]) AS v(id, attempt, at)
    WHERE j.id = v.id AND (j.state = 'executing') IS TRUE AND COALESCE(j.worker_id, '') = %s
      AND j.attempt = v.attempt
"""


def _append_error(fields: str) -> str:
    return f"errors || jsonb_build_array(jsonb_build_object({fields}))"


def _last_entry(name: str) -> str:
    return f"(errors -> -1 ->> '{name}')"


# The rows are chosen with SKIP LOCKED: a row a dead worker's open transaction
# still locks (its session not yet ended) is rescued in a later round, never waited on.
_RESCUE_SQL = give_back_sql(
    append_error=_append_error,
    last_entry=_last_entry,
    where="id IN (SELECT id FROM djobs_job WHERE state = 'executing' AND "
    f"{RESCUE_WHERE} FOR UPDATE SKIP LOCKED)",
)

_RELEASE_SQL = give_back_sql(
    append_error=_append_error,
    last_entry=_last_entry,
    where="worker_id = %(me)s AND (id, attempt) IN "
    "(SELECT * FROM unnest(CAST(%(ids)s AS bigint[]), CAST(%(attempts)s AS int[])))",
)

_AVAILABLE = STATE_BITS["available"]

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
        unique_key = {keep_key(str(_AVAILABLE), "j.")}
    FROM due WHERE j.id = due.id
    RETURNING j.queue, CASE WHEN {rekey("j.")} THEN j.id END
"""


class _PostgresDispatch(DatabaseOps):
    """The dispatcher's SQL on PostgreSQL."""

    @property
    def _prepare(self) -> bool:
        # A named prepared statement lives in one server session; behind a
        # transaction pooler the next execute may reach another one.
        return not pooling()

    @contextmanager
    def _hot_cursor(self) -> Iterator[Any]:
        """Yield a server-side-binding cursor for the dispatcher's hot statements.

        The claim and outcome statements run thousands of times a second; with
        Django's client-side binding each would be planned again, and planning
        reads the ends of the claim index, which are full of dead entries while
        a queue drains. They are prepared once per connection, whatever
        ``OPTIONS["prepare_threshold"]`` says (djobs.db.postgres_prepared). The
        dispatcher's session also skips waiting for the WAL flush
        (DJOBS["ASYNC_COMMIT"]); a database crash can only make a job run again.

        Behind a transaction pooler (DJOBS["TRANSACTION_POOLING"]) neither:
        nothing is prepared, and commits wait for the flush. A session SET
        would land on whichever server session the pooler lent, and stay there
        for its next client.
        """
        import psycopg

        wrapper = self.connection
        with wrapper.wrap_database_errors:
            wrapper.ensure_connection()
            raw = wrapper.connection
            # Only the dispatcher's own threads (claimers, recorder) change their
            # session: a web request or job calling this keeps full durability.
            if (
                not pooling()
                and getattr(dispatcher_thread, "active", False)
                and getattr(wrapper, "_djobs_tuned", None) is not raw
                and not wrapper.in_atomic_block
            ):
                if get_settings().ASYNC_COMMIT:
                    raw.execute("SET synchronous_commit = off")
                wrapper._djobs_tuned = raw
            # The statements ask to be prepared; psycopg does so only while the
            # connection's prepare_threshold is not None.
            saved = raw.prepare_threshold
            raw.prepare_threshold = prepared.prepared_here(saved)
            try:
                with psycopg.Cursor(raw) as cursor:
                    yield cursor
            except psycopg.Error as exc:
                if prepared.stale(exc):
                    prepared.forget(raw)  # the next run (a claim's retry) prepares afresh
                raise
            finally:
                raw.prepare_threshold = saved

    def job_claim(self, *, queue: str, limit: int, worker_id: str, now: Any) -> list[Job]:
        sql = _claim_sql(", ".join(f"j.{c}" for c in self.CLAIM_COLUMNS) + f", {rekey('j.')} AS rekey")
        with self._hot_cursor() as cursor:
            cursor.execute(sql, [queue, limit, worker_id], prepare=self._prepare, binary=True)
            rows = cursor.fetchall()
        if not rows:
            return []
        rekeyed = [row[0] for row in rows if row[-1]]
        if rekeyed:
            self.job_restore_unique(rekeyed)
        return self.jobs_from_rows(rows, worker_id=worker_id, now=now)

    def job_stage(self, *, now: Any, limit: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        rekeyed = []
        with self._hot_cursor() as cursor:
            cursor.execute(_STAGE_SQL, [now, limit], prepare=self._prepare)
            for queue, pk in cursor.fetchall():
                counts[queue] = counts.get(queue, 0) + 1
                if pk is not None:
                    rekeyed.append(pk)
        if rekeyed:
            self.job_restore_unique(rekeyed)
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
                    "attempted_at": None if job.attempted_at is None else job.attempted_at.isoformat(),
                    "scheduled_at": None if t.scheduled_at is None else t.scheduled_at.isoformat(),
                    "finished_at": None if t.finished_at is None else t.finished_at.isoformat(),
                    "result": t.result,
                    "error": t.error,
                    "bit": STATE_BITS[t.state],
                }
            )
        with self._hot_cursor() as cursor:
            cursor.execute(_RECORD_SQL, [json.dumps(items), worker_id], prepare=self._prepare)
            rows = cursor.fetchall()
        rekeyed = [pk for pk, key in rows if key]
        if rekeyed:
            self.job_restore_unique(rekeyed)
        return {pk for pk, _ in rows}

    def job_mark_started(self, *, worker_id: str, started: Sequence[Job]) -> None:
        params = [
            [job.id for job in started],
            [job.attempt for job in started],
            [job.attempted_at for job in started],
            worker_id,
        ]
        with self._hot_cursor() as cursor:
            cursor.execute(_MARK_STARTED_SQL, params, prepare=self._prepare)

    def job_rescue(self, *, now: Any, exclude_worker: str) -> list[MovedJob]:
        params = {**give_back_params(RESCUED, now, now), "me": exclude_worker}
        with self.connection.cursor() as cursor:
            cursor.execute(_RESCUE_SQL, params)
            return self._restore_moved(moved_rows(cursor.fetchall()))

    def job_release(
        self, *, worker_id: str, jobs: Sequence[tuple[int, int]], now: Any, reason: str
    ) -> list[MovedJob]:
        params = {
            **give_back_params(released(reason), now, now),
            "me": worker_id,
            "ids": [pk for pk, _ in jobs],
            "attempts": [attempt for _, attempt in jobs],
        }
        with self.connection.cursor() as cursor:
            cursor.execute(_RELEASE_SQL, params)
            return self._restore_moved(moved_rows(cursor.fetchall()))

    def job_delete_finished(self, *, state: str, before: Any, limit: int) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(_DELETE_SQL, [state, before, limit])
            return int(cursor.rowcount)


class PostgresOps(
    PostgresInserts, PostgresAtomic, PostgresWakeups, PostgresVacuum, PostgresWorkflowOps, _PostgresDispatch
):
    append_error_sql = staticmethod(_append_error)
    supports_listen_notify = True
    supports_row_estimates = True
    db_now_sql = "now()"
    # clock_timestamp(), not now(): the time after the limited claim's lock wait.
    flow_epoch_sql = "extract(epoch from clock_timestamp())"

    def explain_rows(self, sql: str, params: Sequence[Any]) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            (plan,) = cursor.fetchone()
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])

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
                     AND state IN ('available', 'executing', 'retryable', 'scheduled', 'waiting')
                   ORDER BY (meta ->> 'batch_id') DESC LIMIT 1""",
                [key, key],
            )
            return cursor.fetchone() is not None
