"""Jobs the flow-control tests run: each records its start and end, by the database clock, in flow_run."""

from __future__ import annotations

import time
import uuid

from django.db import connection

from djobs import Snooze, job
from djobs.context import JobContext
from djobs.db import get_ops

TABLE_SQL = {
    "postgresql": "CREATE TABLE IF NOT EXISTS flow_run (token varchar(32) PRIMARY KEY, job_id bigint, "
    "account varchar(64), started double precision, ended double precision)",
    "mysql": "CREATE TABLE IF NOT EXISTS flow_run (token varchar(32) PRIMARY KEY, job_id bigint, "
    "account varchar(64), started double, ended double)",
    "sqlite": "CREATE TABLE IF NOT EXISTS flow_run (token varchar(32) PRIMARY KEY, job_id bigint, "
    "account varchar(64), started real, ended real)",
}


def create_table() -> None:
    """Create flow_run if missing and empty it (it is not a model: flushes leave it alone)."""
    with connection.cursor() as cursor:
        cursor.execute(TABLE_SQL[connection.vendor])
        cursor.execute("DELETE FROM flow_run")


def _record_start(job_id: int, account: str) -> str:
    token = uuid.uuid4().hex
    with connection.cursor() as cursor:
        now = get_ops().flow_epoch_sql
        cursor.execute(
            f"INSERT INTO flow_run (token, job_id, account, started) VALUES (%s, %s, %s, {now})",
            [token, job_id, account],
        )
    return token


def _record_end(token: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE flow_run SET ended = {get_ops().flow_epoch_sql} WHERE token = %s", [token])


@job(queue="flow", takes_context=True)
def runs_for(context: JobContext, seconds: float, account_id: str = "") -> None:
    token = _record_start(context.job.id, account_id)
    time.sleep(seconds)
    _record_end(token)


@job(queue="flow", takes_context=True)
def snoozes_once(context: JobContext, seconds: float) -> Snooze | None:
    token = _record_start(context.job.id, "")
    time.sleep(seconds)
    _record_end(token)
    # A snooze leaves the attempt as it was: the side table says whether this is the first run.
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM flow_run WHERE job_id = %s", [context.job.id])
        first = cursor.fetchone()[0] == 1
    return Snooze(0) if first else None


def runs() -> list[tuple[int, str, float, float | None]]:
    """Return every recorded run: (job id, account, started, ended), by start."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT job_id, account, started, ended FROM flow_run ORDER BY started")
        return [
            (int(pk), str(account), float(started), None if ended is None else float(ended))
            for pk, account, started, ended in cursor.fetchall()
        ]


def most_overlapping(rows: list[tuple[int, str, float, float | None]]) -> int:
    """Return the most runs in progress at any one time."""
    events = []
    for _, _, started, ended in rows:
        events.append((started, 1))
        events.append((ended if ended is not None else float("inf"), -1))
    # An end at the same instant as a start comes first: the slot was free.
    events.sort(key=lambda e: (e[0], e[1]))
    most = running = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def most_starts_in_window(starts: list[float], period: float) -> int:
    """Return the most starts inside any window of ``period`` seconds."""
    starts = sorted(starts)
    most = 0
    first = 0
    for last, at in enumerate(starts):
        while at - starts[first] >= period:
            first += 1
        most = max(most, last - first + 1)
    return most
