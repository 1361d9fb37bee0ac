"""The admin's reads, each one statement whose cost is bounded whatever the table's size.

Portable SQL (PostgreSQL, SQLite, MySQL and MariaDB run it as written), so it
lives here rather than in a vendor module. Each ``WHERE`` names one state (or
the terminal states with a time range), so that on PostgreSQL every branch is
a range of that state's partial index, read index-only where the index
carries the columns (migrations 0011 and 0013).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import QuerySet

from ..models import Job
from ..states import TERMINAL_STATES, JobState

TABLE = Job._meta.db_table

# The job list read one group of states at a time: on PostgreSQL each group is
# one partial index holding the queue, so a queue filter is a short range of
# each. A finished state's range is in id order (djobs_job_finished_queue,
# migration 0013); the running states' indexes hold as many entries as the
# backlog, sorted by id after they are read. The stager's two states share
# one index, so they are one group.
STATE_GROUPS: tuple[tuple[str, ...], ...] = (
    (JobState.COMPLETED,),
    (JobState.DISCARDED,),
    (JobState.CANCELLED,),
    (JobState.AVAILABLE,),
    (JobState.EXECUTING,),
    (JobState.RETRYABLE, JobState.SCHEDULED),
    (JobState.WAITING,),
)


def job_count_by_queue_sampled(alias: str, states: Sequence[str], cap: int) -> dict[str, dict[str, int]]:
    """Return ``{state: {queue: n}}`` counted over at most ``cap`` rows of each state.

    A state whose queues add up to less than ``cap`` was counted exactly; one
    that reaches ``cap`` holds more rows than were read.
    """
    if not states:
        return {}
    branch = (
        f"SELECT %s AS state, queue, COUNT(*) AS n FROM "
        f"(SELECT queue FROM {TABLE} WHERE state = %s LIMIT %s) AS t{{i}} GROUP BY queue"
    )
    sql = " UNION ALL ".join(branch.format(i=i) for i in range(len(states)))
    params: list[Any] = []
    for state in states:
        params += [state, state, cap]
    counts: dict[str, dict[str, int]] = {state: {} for state in states}
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        for state, queue, n in cursor.fetchall():
            counts[state][queue] = int(n)
    return counts


def job_count_finished_per_minute(
    alias: str,
    series: Sequence[Sequence[str]],
    start: datetime,
    minutes: int,
    seconds: tuple[int, int] = (0, 60),
) -> list[list[int]]:
    """Return, per series of states, the jobs finished in each of ``minutes`` minutes from ``start``.

    ``seconds`` (first, last) narrows each minute to those of its seconds, to
    sample a busy hour. One statement of scalar counts, one per series and
    minute, each a range of the finished index (state, finished_at): the
    database counts index entries and computes nothing per row.
    """
    if minutes <= 0 or not series:
        return [[] for _ in series]
    connection = connections[alias]
    first, last = seconds
    # As the ORM would store them: naive UTC text on SQLite and MySQL.
    bounds = [
        [
            connection.ops.adapt_datetimefield_value(start + timedelta(minutes=i, seconds=s))
            for s in (first, last)
        ]
        for i in range(minutes)
    ]
    counts: list[str] = []
    params: list[Any] = []
    for states in series:
        in_states = ", ".join(["%s"] * len(states))
        in_range = "finished_at >= %s AND finished_at < %s"
        count = f"(SELECT COUNT(*) FROM {TABLE} WHERE state IN ({in_states}) AND {in_range})"
        for minute in bounds:
            counts.append(count)
            params += [*states, *minute]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(counts), params)
        row = [int(n) for n in cursor.fetchone()]
    return [row[k * minutes : (k + 1) * minutes] for k in range(len(series))]


def job_count_estimated_by_queue(
    alias: str, states: Sequence[str], queues: Sequence[str]
) -> dict[str, dict[str, int]] | None:
    """Return the planner's estimate of the jobs per ``states`` x ``queues``, or None.

    On PostgreSQL, from the column statistics in one query (what ``EXPLAIN``
    computes for ``state = %s AND queue = %s``: the table's size times the
    frequency of each value), however many cells there are. None where the
    database has no such statistics, or the table was never analyzed: then
    ask :func:`djobs.db.estimates.estimate_rows` cell by cell.
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.reltuples, c.relpages, pg_relation_size(c.oid) / current_setting('block_size')::int, "
            "s.attname, s.null_frac, s.n_distinct, s.most_common_vals::text::text[], s.most_common_freqs "
            "FROM pg_class c JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = c.relname "
            "AND s.attname IN ('state', 'queue') WHERE c.oid = %s::regclass",
            [TABLE],
        )
        rows = cursor.fetchall()
    if len(rows) != 2 or rows[0][0] < 0:
        return None
    reltuples, relpages, pages = rows[0][:3]
    # As the planner does: the analyzed density times the table's current size.
    tuples = reltuples / relpages * pages if relpages > 0 else reltuples
    columns = {
        name: (null_frac, n_distinct, vals or [], freqs or [])
        for *_, name, null_frac, n_distinct, vals, freqs in rows
    }
    state_of = {state: _frequency(columns["state"], state, tuples) for state in states}
    queue_of = {queue: _frequency(columns["queue"], queue, tuples) for queue in queues}
    return {
        state: {queue: round(tuples * state_of[state] * queue_of[queue]) for queue in queues}
        for state in states
    }


def reads_across_states(alias: str) -> bool:
    """Say whether the job list is read one branch per state or per queue where one filter is missing.

    So on PostgreSQL, where every state's partial index holds the queue
    (migration 0013 adds the finished states'). Elsewhere the plain statement
    is the better one: MySQL and MariaDB have no partial indexes, and SQLite's
    tables are small enough to scan.
    """
    return connections[alias].vendor == "postgresql"


def _union(
    branches: Sequence[QuerySet[Job]], order: str = "", order_params: Sequence[Any] = ()
) -> tuple[str, list[Any]]:
    """Return the ids of ``branches`` as one ``UNION ALL``.

    With ``order`` (an ``ORDER BY ... LIMIT %s`` and its ``order_params``),
    each branch is a subquery of its own, planned for its first rows: the
    newest jobs of that branch, from its index. (A plain union of the
    branches let PostgreSQL plan it as a whole: a parallel append sorting
    every job of a common queue.)
    """
    sqls: list[str] = []
    params: list[Any] = []
    for i, branch in enumerate(branches):
        ids = branch.order_by().values_list("id")
        sql, branch_params = ids.query.get_compiler(using=branch.db).as_sql()
        sqls.append(f"SELECT id FROM ({sql} {order}) AS b{i}" if order else sql)
        params += [*branch_params, *order_params] if order else branch_params
    return " UNION ALL ".join(sqls), params


def _ids(
    branches: Sequence[QuerySet[Job]], alias: str, descending: bool, offset: int, limit: int
) -> list[int]:
    if not branches:
        return []
    order = "DESC" if descending else "ASC"
    union, params = _union(branches, f"ORDER BY id {order} LIMIT %s", [offset + limit])
    sql = f"SELECT id FROM ({union}) AS t ORDER BY id {order} LIMIT %s OFFSET %s"
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [*params, limit, offset])
        return [int(pk) for (pk,) in cursor.fetchall()]


def job_ids_across_states(queryset: QuerySet[Job], *, descending: bool, offset: int, limit: int) -> list[int]:
    """Return the ids of ``queryset`` in id order from ``offset``, at most ``limit``, read state by state.

    The same ids as ``queryset.order_by("-id")[offset:offset + limit]`` (or
    ``"id"``); ``queryset`` must leave the state open. Each group of
    STATE_GROUPS is a branch that reads at most ``offset + limit`` ids.
    """
    branches = [queryset.filter(state__in=states) for states in STATE_GROUPS]
    return _ids(branches, queryset.db, descending, offset, limit)


def job_count_across_states(queryset: QuerySet[Job], cap: int) -> int:
    """Return the rows of ``queryset``, counted state by state up to ``cap`` (never more)."""
    union, params = _union([queryset.filter(state__in=states) for states in STATE_GROUPS])
    sql = f"SELECT COUNT(*) FROM (SELECT id FROM ({union}) AS t LIMIT %s) AS u"
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, [*params, cap])
        return int(cursor.fetchone()[0])


def job_queues_finished(alias: str) -> list[str]:
    """Return the queues that hold finished jobs, one index lookup each (a skip scan of the queues)."""
    qn = connections[alias].ops.quote_name
    finished = ", ".join(["%s"] * len(TERMINAL_STATES))
    in_finished = f"{qn('state')} IN ({finished})"
    sql = (
        f"WITH RECURSIVE queues (queue) AS ("
        f"SELECT MIN({qn('queue')}) FROM {qn(TABLE)} WHERE {in_finished} "
        f"UNION ALL SELECT (SELECT MIN({qn('queue')}) FROM {qn(TABLE)} WHERE {in_finished} "
        f"AND {qn('queue')} > queues.queue) FROM queues WHERE queues.queue IS NOT NULL"
        f") SELECT queue FROM queues WHERE queue IS NOT NULL"
    )
    states = sorted(TERMINAL_STATES)
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [*states, *states])
        return [queue for (queue,) in cursor.fetchall()]


def job_ids_across_queues(queryset: QuerySet[Job], *, descending: bool, offset: int, limit: int) -> list[int]:
    """Return the ids of ``queryset`` in id order, as :func:`job_ids_across_states`, read queue by queue.

    For a list filtered on one finished state and no queue: each queue's jobs
    in that state are a range of (queue, state, id), in id order, however old
    they are (the primary key read newest first would step over every newer
    job of another state).
    """
    branches = [queryset.filter(queue=queue) for queue in job_queues_finished(queryset.db)]
    return _ids(branches, queryset.db, descending, offset, limit)


def _frequency(column: tuple[float, float, list[str], list[float]], value: str, tuples: float) -> float:
    """Return the share of rows holding ``value``, as the planner reads a column's statistics."""
    null_frac, n_distinct, values, freqs = column
    if value in values:
        return float(freqs[values.index(value)])
    distinct = n_distinct if n_distinct > 0 else -n_distinct * tuples
    others = distinct - len(values)
    if others <= 0:
        return 0.0
    return max(1.0 - sum(freqs) - null_frac, 0.0) / others


__all__ = [
    "STATE_GROUPS",
    "job_count_across_states",
    "job_count_by_queue_sampled",
    "job_count_estimated_by_queue",
    "job_count_finished_per_minute",
    "job_ids_across_queues",
    "job_ids_across_states",
    "job_queues_finished",
    "reads_across_states",
]
