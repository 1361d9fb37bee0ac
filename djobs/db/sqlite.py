"""SQLite: one writer at a time, so claims are immediate transactions and wake-ups are polls."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.utils.dateparse import parse_datetime

from ..states import STATE_BITS
from .base import DatabaseOps
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
from .inserts import _INSERT_COLUMNS as INSERT_COLUMNS
from .inserts import _PLACEHOLDERS

if TYPE_CHECKING:
    from ..enqueue import PendingJob
    from ..models import Job

_INSERT_ONE = f"INSERT INTO djobs_job ({', '.join(INSERT_COLUMNS)}) VALUES {_PLACEHOLDERS}"


_AVAILABLE = STATE_BITS["available"]
_EXECUTING = STATE_BITS["executing"]


def _claim_sql(columns: str) -> str:
    # Runs inside BEGIN IMMEDIATE: SQLite has one writer at a time, so the
    # subquery's pick and the update cannot interleave with another claim.
    return f"""
        UPDATE djobs_job
        SET state = 'executing', attempt = attempt + 1, attempted_at = NULL, worker_id = %s,
            unique_key = {keep_key(str(_EXECUTING))}
        WHERE id IN (
            SELECT id FROM djobs_job
            WHERE state = 'available' AND queue = %s
            ORDER BY priority, subpriority, scheduled_at, id
            LIMIT %s
        )
        RETURNING {columns}
    """


def _record_sql(rows: int) -> str:
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * rows)
    return f"""
        WITH v(id, attempt, state, delta, attempted_at, scheduled_at, finished_at, result, error, bit)
            AS (VALUES {values})
        UPDATE djobs_job SET
            state = v.state,
            attempt = djobs_job.attempt + v.delta,
            attempted_at = COALESCE(v.attempted_at, djobs_job.attempted_at),
            scheduled_at = COALESCE(v.scheduled_at, djobs_job.scheduled_at),
            finished_at = v.finished_at,
            result = v.result,
            errors = CASE WHEN v.error IS NULL THEN djobs_job.errors
                          ELSE json_insert(djobs_job.errors, '$[#]', json(v.error)) END,
            unique_key = {keep_key("v.bit", "djobs_job.")}
        FROM v
        WHERE djobs_job.id = v.id AND djobs_job.state = 'executing'
          AND djobs_job.worker_id = %s AND djobs_job.attempt = v.attempt
        RETURNING djobs_job.id, {rekey("djobs_job.")}
    """


def _append_error(fields: str) -> str:
    return f"json_insert(errors, '$[#]', json_object({fields}))"


def _last_entry(name: str) -> str:
    return f"json_extract(errors, '$[#-1].{name}')"


# (id, attempt) pairs arrive as one JSON array: no statement grows with the count.
_PAIRS = "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(%(pairs)s))"

_RESCUE_SQL = give_back_sql(
    append_error=_append_error,
    last_entry=_last_entry,
    where=RESCUE_WHERE,
)

_RELEASE_SQL = give_back_sql(
    append_error=_append_error,
    last_entry=_last_entry,
    where=f"worker_id = %(me)s AND (id, attempt) IN {_PAIRS}",
)

_MARK_STARTED_SQL = """
    UPDATE djobs_job SET attempted_at = json_extract(v.value, '$[2]')
    FROM json_each(%s) AS v
    WHERE djobs_job.id = json_extract(v.value, '$[0]') AND djobs_job.state = 'executing'
      AND djobs_job.worker_id = %s AND djobs_job.attempt = json_extract(v.value, '$[1]')
"""

# Batch ids are compared without dashes: SQLite keeps UUIDs as 32 hex characters.
_DELETE_SQL = """
    DELETE FROM djobs_job WHERE id IN (
        SELECT j.id FROM djobs_job AS j
        WHERE j.state = %s AND j.finished_at < %s
          AND NOT EXISTS (
            SELECT 1 FROM djobs_batch AS b
            WHERE b.state <> 'finished'
              AND replace(lower(b.id), '-', '')
                  = replace(lower(json_extract(j.meta, '$.batch_id')), '-', '')
          )
        LIMIT %s
    )
"""

_STAGE_SQL = f"""
    UPDATE djobs_job SET state = 'available', unique_key = {keep_key(str(_AVAILABLE))}
    WHERE id IN (
        SELECT id FROM djobs_job
        WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= %s
        ORDER BY scheduled_at
        LIMIT %s
    )
    RETURNING queue, CASE WHEN {rekey()} THEN id END
"""

# Keep each statement's bound parameters well under SQLite's limit.
_RECORD_CHUNK = 500


class _SQLiteDispatch(DatabaseOps):
    """The dispatcher's SQL on SQLite."""

    # PRAGMA data_version changes when another connection commits: an idle
    # worker reads it every few ms (no disk access) instead of claiming blindly.
    supports_change_counter = True
    single_writer = True

    def change_counter(self) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute("PRAGMA data_version")
            return int(cursor.fetchone()[0])

    @contextmanager
    def _immediate(self) -> Iterator[Any]:
        """Yield a cursor inside BEGIN IMMEDIATE (take the write lock up front).

        A deferred transaction that reads first and writes later can fail with
        SQLITE_BUSY at once in WAL mode; IMMEDIATE waits for the lock instead.
        """
        connection = self.connection
        if connection.in_atomic_block:
            with connection.cursor() as cursor:
                yield cursor
            return
        with connection.cursor() as cursor:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def _flow_transaction(self) -> Any:
        # The write lock up front: the limited claim's count and pick are then this claim's alone.
        return self._immediate()

    def convert_datetime(self, value: Any) -> Any:
        if isinstance(value, str):
            value = parse_datetime(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def job_claim(self, *, queue: str, limit: int, worker_id: str, now: Any) -> list[Job]:
        sql = _claim_sql(", ".join(self.CLAIM_COLUMNS) + f", {rekey()}")
        with self._immediate() as cursor:
            cursor.execute(sql, [worker_id, queue, limit])
            rows = cursor.fetchall()
        if not rows:
            return []
        rekeyed = [row[0] for row in rows if row[-1]]
        if rekeyed:
            self.job_restore_unique(rekeyed)
        jobs = self.jobs_from_rows(rows, worker_id=worker_id, now=now)
        jobs.sort(key=lambda j: (j.priority, j.subpriority, j.scheduled_at, j.id))  # RETURNING has no order
        return jobs

    def job_stage(self, *, now: Any, limit: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        rekeyed = []
        with self._immediate() as cursor:
            cursor.execute(_STAGE_SQL, [self.adapt_datetime(now), limit])
            for queue, pk in cursor.fetchall():
                counts[queue] = counts.get(queue, 0) + 1
                if pk is not None:
                    rekeyed.append(pk)
        if rekeyed:
            self.job_restore_unique(rekeyed)
        return counts

    def job_record_outcomes(self, *, worker_id: str, outcomes: Sequence[Any]) -> set[int]:
        held: set[int] = set()
        rekeyed: list[int] = []
        dumps = json.dumps
        adapt = self.adapt_datetime
        items = list(outcomes)
        with self._immediate() as cursor:
            for start in range(0, len(items), _RECORD_CHUNK):
                chunk = items[start : start + _RECORD_CHUNK]
                params: list[Any] = []
                for job, transition in chunk:
                    result, error = transition.result, transition.error
                    params.extend(
                        (
                            job.id,
                            job.attempt,
                            transition.state,
                            transition.attempt_delta,
                            None if job.attempted_at is None else adapt(job.attempted_at),
                            None if transition.scheduled_at is None else adapt(transition.scheduled_at),
                            None if transition.finished_at is None else adapt(transition.finished_at),
                            None if result is None else dumps(result),
                            None if error is None else dumps(error),
                            STATE_BITS[transition.state],
                        )
                    )
                params.append(worker_id)
                cursor.execute(_record_sql(len(chunk)), params)
                for pk, key in cursor.fetchall():
                    held.add(pk)
                    if key:
                        rekeyed.append(pk)
        if rekeyed:
            self.job_restore_unique(rekeyed)
        return held

    def job_mark_started(self, *, worker_id: str, started: Sequence[Job]) -> None:
        adapt = self.adapt_datetime
        items = json.dumps([[job.id, job.attempt, str(adapt(job.attempted_at))] for job in started])
        with self._immediate() as cursor:
            cursor.execute(_MARK_STARTED_SQL, [items, worker_id])

    def job_rescue(self, *, now: Any, exclude_worker: str) -> list[MovedJob]:
        params = {**give_back_params(RESCUED, now, self.adapt_datetime(now)), "me": exclude_worker}
        with self._immediate() as cursor:
            cursor.execute(_RESCUE_SQL, params)
            moved = moved_rows(cursor.fetchall())
        return self._restore_moved(moved)

    def job_release(
        self, *, worker_id: str, jobs: Sequence[tuple[int, int]], now: Any, reason: str
    ) -> list[MovedJob]:
        params = {
            **give_back_params(released(reason), now, self.adapt_datetime(now)),
            "me": worker_id,
            "pairs": json.dumps([list(pair) for pair in jobs]),
        }
        with self._immediate() as cursor:
            cursor.execute(_RELEASE_SQL, params)
            moved = moved_rows(cursor.fetchall())
        return self._restore_moved(moved)

    def job_delete_finished(self, *, state: str, before: Any, limit: int) -> int:
        with self._immediate() as cursor:
            cursor.execute(_DELETE_SQL, [state, self.adapt_datetime(before), limit])
            return int(cursor.rowcount)


class SQLiteOps(_SQLiteDispatch):
    append_error_sql = staticmethod(_append_error)
    supports_listen_notify = False
    flow_epoch_sql = "((julianday('now') - 2440587.5) * 86400.0)"
    # As Django stores a DateTimeField (UTC, no offset).
    db_now_sql = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')"

    # -- inserts -----------------------------------------------------------------

    supports_single_statement_insert = True

    def job_insert_one(self, row: PendingJob, *, notify: bool) -> Job:
        # In autocommit the INSERT is its own transaction: no BEGIN/COMMIT around it.
        with self.connection.cursor() as cursor:
            cursor.execute(_INSERT_ONE, self._row_params(row))
            return self.saved_job(row, int(cursor.lastrowid))

    def insert_rows_per_statement(self) -> int:
        # The compiled-in limit on bound variables (32766 since SQLite 3.32,
        # 999 before), not Django's conservative 999.
        self.connection.ensure_connection()
        raw = self.connection.connection
        limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if hasattr(raw, "getlimit") else 999
        return max(1, limit // len(INSERT_COLUMNS))

    # -- batches -----------------------------------------------------------------
    # SQLite uses an expression index only when the query spells the expression
    # and the partial index's condition exactly as the index does, with literals
    # (the ORM binds them as parameters), so the SQL reuses the index's own text.

    _batch_index: tuple[str, str] | None = None

    def _batch_index_sql(self) -> tuple[str, str] | None:
        """Return (expression, condition) of djobs_job_batch_active as created, or None."""
        if SQLiteOps._batch_index is None:
            import re

            with self.connection.cursor() as cursor:
                cursor.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'djobs_job_batch_active'"
                )
                row = cursor.fetchone()
            match = re.search(r'ON "djobs_job" \((.*)\) WHERE (.*)$', row[0] if row else "", re.S)
            if match is None:
                return None
            SQLiteOps._batch_index = (match.group(1), match.group(2))
        return SQLiteOps._batch_index

    def batch_has_active_jobs(self, *, key: str) -> bool:
        index = self._batch_index_sql()
        if index is None:
            return super().batch_has_active_jobs(key=key)
        expression, condition = index
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM djobs_job WHERE {expression} = %s AND {condition} LIMIT 1", [key])
            return cursor.fetchone() is not None

    def batch_finish(self, *, batch_id: Any, key: str, now: Any) -> bool:
        index = self._batch_index_sql()
        if index is None:
            return super().batch_finish(batch_id=batch_id, key=key, now=now)
        expression, condition = index
        # The transaction's first statement is this write: it takes the write lock,
        # and with it the latest snapshot, before it reads anything.
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"""UPDATE djobs_batch SET state = 'finished', finished_at = %s
                    WHERE id = %s AND state = 'running' AND NOT EXISTS (
                        SELECT 1 FROM djobs_job WHERE {expression} = %s AND {condition})""",
                [self.adapt_datetime(now), uuid.UUID(str(batch_id)).hex, key],
            )
            return cursor.rowcount == 1
