"""MySQL (8.0+) and MariaDB (10.6+): SKIP LOCKED claims, no RETURNING on UPDATE, no LISTEN.

Every move of rows is one transaction: lock the rows with
``SELECT ... FOR UPDATE SKIP LOCKED`` (which also reads what the caller
needs), update exactly those ids, and commit. The partial indexes of the other
databases are full indexes led by ``state`` here, and the unique rule is a
plain UNIQUE index on ``unique_key`` (see migration 0006): both hold because
a row keeps a key only in the states its uniqueness covers.

Wake-ups: no LISTEN/NOTIFY, so an idle producer watches ``change_counter()``
(the newest job id and the number of available jobs, up to a cap), read from
the database at most every DJOBS["WAKE_POLL_INTERVAL"] seconds by one query shared by the
producers of a process.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from ..states import ACTIVE_STATES, STATE_BITS
from .change_counter import PolledChangeCounter
from .fragments import (
    RESCUE_WHERE,
    RESCUED,
    MovedJob,
    give_back_params,
    keep_key,
    moved_rows,
    rekey,
    released,
    state_bit,
)
from .mysql_giveback import append_error, give_back_update
from .mysql_inserts import MySQLInserts

if TYPE_CHECKING:
    from ..models import Job

_EXECUTING = STATE_BITS["executing"]
_AVAILABLE = STATE_BITS["available"]
_ACTIVE_SQL = ", ".join(f"'{state}'" for state in sorted(ACTIVE_STATES))
# Read with a claim, besides CLAIM_COLUMNS, to decide the key without RETURNING.
_KEY_COLUMNS = ("unique_key", "unique_base", "unique_states")


def _ids(ids: Sequence[int]) -> str:
    # Ids come from the database as ints: written inline, the statement needs no
    # parameter per row.
    return ", ".join(str(int(pk)) for pk in ids)


def _rekey(unique_key: str | None, unique_base: str | None, unique_states: int, state: str) -> bool:
    """Say whether a row moved to ``state`` should take its key back (djobs.db.fragments.rekey)."""
    return unique_base is not None and not unique_key and bool(unique_states & STATE_BITS[state])


_CLAIM_SQL = """
    SELECT {columns} FROM djobs_job
    WHERE state = 'available' AND queue = %s
    ORDER BY priority, subpriority, scheduled_at, id
    LIMIT %s
    FOR UPDATE SKIP LOCKED
"""

_CLAIM_UPDATE = f"""
    UPDATE djobs_job
    SET state = 'executing', attempt = attempt + 1, attempted_at = NULL, worker_id = %s,
        unique_key = {keep_key(str(_EXECUTING))}
    WHERE id IN ({{ids}})
"""

# One walk of the index per staged state: an IN over both would read every due
# row of both to sort them.
_STAGE_PICK = """
    SELECT id, queue, unique_key, unique_base, unique_states, scheduled_at FROM djobs_job
    WHERE state = %s AND scheduled_at <= %s
    ORDER BY scheduled_at
    LIMIT %s
    FOR UPDATE SKIP LOCKED
"""

_STAGE_UPDATE = f"""
    UPDATE djobs_job SET state = 'available', unique_key = {keep_key(str(_AVAILABLE))}
    WHERE id IN ({{ids}})
"""

# Outcomes arrive as one JSON array; results and errors inside it as JSON text
# ({ids}: the ids locked before, so the join touches only their rows).
# JSON_TABLE clips a number too big for its column; delta is DECIMAL so that the
# sum out of the attempt column's range fails the statement (strict mode), as
# it does elsewhere, and the recorder then stores the other outcomes alone.
_RECORD_SQL = f"""
    UPDATE djobs_job AS j JOIN JSON_TABLE(%s, '$[*]' COLUMNS (
        id BIGINT PATH '$.id', state VARCHAR(16) PATH '$.state', delta DECIMAL(65, 0) PATH '$.delta',
        attempted_at DATETIME(6) PATH '$.attempted_at', scheduled_at DATETIME(6) PATH '$.scheduled_at',
        finished_at DATETIME(6) PATH '$.finished_at', result LONGTEXT PATH '$.result',
        error LONGTEXT PATH '$.error', bit INT PATH '$.bit'
    )) AS v ON j.id = v.id
    SET j.unique_key = {keep_key("v.bit", "j.")},
        j.state = v.state,
        j.attempt = j.attempt + v.delta,
        j.attempted_at = COALESCE(v.attempted_at, j.attempted_at),
        j.scheduled_at = COALESCE(v.scheduled_at, j.scheduled_at),
        j.finished_at = v.finished_at,
        j.result = v.result,
        j.errors = CASE WHEN v.error IS NULL THEN j.errors
                        ELSE JSON_ARRAY_APPEND(j.errors, '$', JSON_EXTRACT(v.error, '$')) END
    WHERE j.id IN ({{ids}})
"""

_MARK_STARTED_SQL = """
    UPDATE djobs_job AS j JOIN JSON_TABLE(%s, '$[*]' COLUMNS (
        id BIGINT PATH '$[0]', attempt INT PATH '$[1]', at DATETIME(6) PATH '$[2]'
    )) AS v ON j.id = v.id
    SET j.attempted_at = v.at
    WHERE j.state = 'executing' AND j.worker_id = %s AND j.attempt = v.attempt
"""

# Rescue skips a row another transaction holds (a dead worker's open one, say):
# a later round takes it.
_RESCUE_PICK = f"SELECT id FROM djobs_job WHERE state = 'executing' AND {RESCUE_WHERE} FOR UPDATE SKIP LOCKED"
# A release waits for its rows instead, locked by primary key in id order: they
# are this worker's, and a row skipped because another transaction's locking scan
# held it a moment would stay executing here, held by nobody, until orphan repair.
_RELEASE_PICK = (
    "SELECT id, attempt FROM djobs_job WHERE id IN ({ids}) AND state = 'executing' "
    "AND worker_id = %(me)s ORDER BY id FOR UPDATE"
)

# Batch ids are compared without dashes: the batch table keeps UUIDs as 32 hex characters.
_PRUNABLE = """
    state = %s AND finished_at < %s
    AND NOT EXISTS (
        SELECT 1 FROM djobs_batch AS b
        WHERE b.id = REPLACE(LOWER(djobs_job.batch_key), '-', '') AND b.state <> 'finished'
    )
"""
# Picked first, then deleted by id: a DELETE ... ORDER BY finished_at LIMIT is
# planned on another state-led index with a sort of every finished row, while
# this SELECT walks djobs_job_finished (state, finished_at) in order. The DELETE
# checks the rows again, so a job retried in between is kept.
_PRUNE_PICK = f"SELECT id FROM djobs_job WHERE {_PRUNABLE} ORDER BY finished_at LIMIT %s"
_PRUNE_DELETE = f"DELETE FROM djobs_job WHERE id IN ({{ids}}) AND {_PRUNABLE}"

# The key returns only where nobody holds it: the UNIQUE index refuses a race
# (PostgreSQL's NOT EXISTS on the same table is an error in a MySQL UPDATE).
_RESTORE_KEY_SQL = f"""
    UPDATE djobs_job SET unique_key = unique_base
    WHERE id = %s AND unique_key IS NULL AND unique_base IS NOT NULL
      AND (unique_states & {state_bit("state")}) <> 0
"""


class _MySQLDispatch(MySQLInserts, PolledChangeCounter):
    """The dispatcher's SQL on MySQL and MariaDB."""

    supports_change_counter = True

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """Yield a cursor inside a transaction: the caller's, or one begun and committed here.

        BEGIN and COMMIT as statements: Django's atomic() would switch autocommit
        off and on around them, two more round trips per claim.
        """
        connection = self.connection
        if connection.in_atomic_block:
            with connection.cursor() as cursor:
                yield cursor
            return
        with connection.cursor() as cursor:
            cursor.execute("START TRANSACTION")
            try:
                yield cursor
            except BaseException:
                with suppress(Exception):
                    cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def _flow_transaction(self) -> Any:
        return self._transaction()

    def convert_datetime(self, value: Any) -> Any:
        # Django keeps UTC in DATETIME columns; raw SQL reads them naive.
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def adapt_datetime(self, value: Any) -> Any:
        return self.connection.ops.adapt_datetimefield_value(value)

    def job_claim(self, *, queue: str, limit: int, worker_id: str, now: Any) -> list[Job]:
        columns = ", ".join((*self.CLAIM_COLUMNS, *_KEY_COLUMNS))
        with self._transaction() as cursor:
            cursor.execute(_CLAIM_SQL.format(columns=columns), [queue, limit])
            picked = cursor.fetchall()
            if not picked:
                return []
            cursor.execute(_CLAIM_UPDATE.format(ids=_ids([row[0] for row in picked])), [worker_id])
        attempt = self.CLAIM_COLUMNS.index("attempt")
        rows = []
        rekeyed = []
        for row in picked:
            claimed = list(row[: len(self.CLAIM_COLUMNS)])
            claimed[attempt] += 1
            key, base, states = row[len(self.CLAIM_COLUMNS) :]
            flag = _rekey(key, base, states, "executing")
            if flag:
                rekeyed.append(row[0])
            rows.append((*claimed, flag))
        if rekeyed:
            self.job_restore_unique(rekeyed)
        return self.jobs_from_rows(rows, worker_id=worker_id, now=now)

    def job_stage(self, *, now: Any, limit: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        rekeyed = []
        due = self.adapt_datetime(now)
        with self._transaction() as cursor:
            picked: list[tuple[Any, ...]] = []
            for state in ("scheduled", "retryable"):
                cursor.execute(_STAGE_PICK, [state, due, limit])
                picked.extend(cursor.fetchall())
            if not picked:
                return counts
            # The longest due of both (the rest stay locked until the commit, untouched).
            picked = sorted(picked, key=lambda row: row[-1])[:limit]
            cursor.execute(_STAGE_UPDATE.format(ids=_ids([row[0] for row in picked])))
        for pk, queue, key, base, states, _due in picked:
            counts[queue] = counts.get(queue, 0) + 1
            if _rekey(key, base, states, "available"):
                rekeyed.append(pk)
        if rekeyed:
            self.job_restore_unique(rekeyed)
        return counts

    def job_record_outcomes(self, *, worker_id: str, outcomes: Sequence[Any]) -> set[int]:
        by_id = {job.id: (job, transition) for job, transition in outcomes}
        if not by_id:
            return set()
        adapt = self.adapt_datetime
        with self._transaction() as cursor:
            # Lock and read first: the fence decides which rows are still this
            # attempt's, and the update then writes exactly those.
            cursor.execute(
                "SELECT id, attempt, unique_key, unique_base, unique_states FROM djobs_job "
                f"WHERE id IN ({_ids(sorted(by_id))}) AND state = 'executing' AND worker_id = %s "
                "ORDER BY id FOR UPDATE",
                [worker_id],
            )
            held = {}
            for pk, attempt, key, base, states in cursor.fetchall():
                job, transition = by_id[pk]
                if attempt == job.attempt:
                    held[pk] = _rekey(key, base, states, transition.state)
            if not held:
                return set()
            items = []
            for pk in held:
                job, t = by_id[pk]
                item: dict[str, Any] = {"id": pk, "state": t.state, "delta": t.attempt_delta}
                item["bit"] = STATE_BITS[t.state]
                if job.attempted_at is not None:
                    item["attempted_at"] = str(adapt(job.attempted_at))
                if t.scheduled_at is not None:
                    item["scheduled_at"] = str(adapt(t.scheduled_at))
                if t.finished_at is not None:
                    item["finished_at"] = str(adapt(t.finished_at))
                if t.result is not None:
                    item["result"] = json.dumps(t.result)
                if t.error is not None:
                    item["error"] = json.dumps(t.error)
                items.append(item)
            # The ids by primary key: without them MariaDB reads (and locks) the table to
            # join it, and waits on other transactions' rows (an atomic job's is long).
            cursor.execute(_RECORD_SQL.format(ids=_ids(sorted(held))), [json.dumps(items)])
        rekeyed = [pk for pk, flag in held.items() if flag]
        if rekeyed:
            self.job_restore_unique(rekeyed)
        return set(held)

    def job_mark_started(self, *, worker_id: str, started: Sequence[Job]) -> None:
        adapt = self.adapt_datetime
        items = json.dumps([[job.id, job.attempt, str(adapt(job.attempted_at))] for job in started])
        with self.connection.cursor() as cursor:
            cursor.execute(_MARK_STARTED_SQL, [items, worker_id])

    def _give_back(
        self, pick: str, params: dict[str, Any], attempts: dict[int, int] | None = None
    ) -> list[MovedJob]:
        """Lock the rows ``pick`` selects (those of ``attempts`` only, if given) and hand them back."""
        with self._transaction() as cursor:
            cursor.execute(pick, params)
            ids = [row[0] for row in cursor.fetchall() if attempts is None or attempts[row[0]] == row[1]]
            if not ids:
                return []
            cursor.execute(give_back_update(_ids(ids)), params)
            cursor.execute(
                f"SELECT id, state, queue, meta, {rekey()} FROM djobs_job WHERE id IN ({_ids(ids)})"
            )
            moved = moved_rows(cursor.fetchall())
        return self._restore_moved(moved)

    def job_rescue(self, *, now: Any, exclude_worker: str) -> list[MovedJob]:
        params = {**give_back_params(RESCUED, now, self.adapt_datetime(now)), "me": exclude_worker}
        return self._give_back(_RESCUE_PICK, params)

    def job_release(
        self, *, worker_id: str, jobs: Sequence[tuple[int, int]], now: Any, reason: str
    ) -> list[MovedJob]:
        if not jobs:
            return []
        params = {**give_back_params(released(reason), now, self.adapt_datetime(now)), "me": worker_id}
        attempts = dict(jobs)
        return self._give_back(_RELEASE_PICK.format(ids=_ids(sorted(attempts))), params, attempts)

    def job_restore_unique(self, ids: Sequence[int]) -> int:
        restored = 0
        for pk in ids:
            try:
                with transaction.atomic(using=self.alias), self.connection.cursor() as cursor:
                    cursor.execute(_RESTORE_KEY_SQL, [pk])
                    restored += cursor.rowcount
            except IntegrityError:
                continue  # taken by a job inserted meanwhile: both stay
        return restored

    def job_delete_finished(self, *, state: str, before: Any, limit: int) -> int:
        before = self.adapt_datetime(before)
        with self.connection.cursor() as cursor:
            cursor.execute(_PRUNE_PICK, [state, before, limit])
            ids = [pk for (pk,) in cursor.fetchall()]
            if not ids:
                return 0
            cursor.execute(_PRUNE_DELETE.format(ids=_ids(ids)), [state, before])
            return int(cursor.rowcount)


class MySQLOps(_MySQLDispatch):
    append_error_sql = staticmethod(append_error)
    supports_listen_notify = False
    supports_row_estimates = True
    db_now_sql = "UTC_TIMESTAMP(6)"
    # SYSDATE, not NOW: the time the statement runs, after the claim's lock wait.
    flow_epoch_sql = "UNIX_TIMESTAMP(SYSDATE(6))"

    def worker_register(
        self, *, worker_id: str, hostname: str, pid: int, queues: dict[str, int], now: Any
    ) -> None:
        from ..models import WorkerProcess

        # ON DUPLICATE KEY UPDATE: MySQL names no conflict target (the primary key is it here).
        row = WorkerProcess(
            id=worker_id, hostname=hostname, pid=pid, queues=queues, started_at=now, heartbeat_at=now
        )
        WorkerProcess.objects.using(self.alias).bulk_create(
            [row],
            update_conflicts=True,
            update_fields=["hostname", "pid", "queues", "started_at", "heartbeat_at"],
        )

    heartbeat_text_sql = "CAST(heartbeat_at AS CHAR)"

    def job_note_cancelled(self, ids: Sequence[int], *, now: datetime) -> int:
        if not ids:
            return 0
        fields = (
            "'attempt', attempt, 'at', CAST(%s AS CHAR), 'error', CAST(%s AS CHAR), 'traceback', NULL, "
            "'exception', CAST(%s AS CHAR), 'worker_id', worker_id"
        )
        params = [now.isoformat(), "JobCancelled: cancelled by an operator", "djobs.exceptions.JobCancelled"]
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE djobs_job SET errors = {append_error(fields)} "
                f"WHERE id IN ({_ids(ids)}) AND state = 'cancelled'",
                params,
            )
            return int(cursor.rowcount)

    # -- batches -----------------------------------------------------------------
    # batch_key is the indexed virtual column of meta's batch_id (migration 0006):
    # neither MariaDB nor MySQL reads an index for JSON_EXTRACT written in a query.

    def batch_jobs(self, key: str) -> Any:
        from django.db.models import CharField
        from django.db.models.expressions import RawSQL

        from ..models import Job

        column = RawSQL("djobs_job.batch_key", [], output_field=CharField())
        return Job.objects.using(self.alias).alias(_batch_key=column).filter(_batch_key=key)

    def batch_has_active_jobs(self, *, key: str) -> bool:
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM djobs_job WHERE batch_key = %s AND state IN ({_ACTIVE_SQL}) LIMIT 1", [key]
            )
            return cursor.fetchone() is not None

    def batch_finish(self, *, batch_id: Any, key: str, now: Any) -> bool:
        pk = uuid.UUID(str(batch_id)).hex
        with self.connection.cursor() as cursor:
            # Wait for a transaction adding jobs to this batch (it holds the row); the
            # UPDATE's NOT EXISTS then reads the jobs it added (READ COMMITTED).
            cursor.execute("SELECT id FROM djobs_batch WHERE id = %s AND state = 'running' FOR UPDATE", [pk])
            if cursor.fetchone() is None:
                return False
            cursor.execute(
                f"""UPDATE djobs_batch SET state = 'finished', finished_at = %s
                    WHERE id = %s AND state = 'running' AND NOT EXISTS (
                        SELECT 1 FROM djobs_job WHERE batch_key = %s AND state IN ({_ACTIVE_SQL}))""",
                [self.adapt_datetime(now), pk, key],
            )
            return cursor.rowcount == 1

    # -- estimates ---------------------------------------------------------------

    def explain_rows(self, sql: str, params: Sequence[Any]) -> int:
        """Return the optimizer's estimate of the rows ``sql`` reads (EXPLAIN's first table)."""
        with self.connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            names = [column[0].lower() for column in cursor.description]
            first = cursor.fetchall()[0]
        plan = dict(zip(names, first, strict=True))
        rows = int(plan.get("rows") or 0)
        filtered = plan.get("filtered")
        if filtered is not None:
            rows = int(rows * float(filtered) / 100)
        return rows


__all__ = ["MySQLOps"]
