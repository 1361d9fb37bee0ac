"""The dashboard's reads, each one statement whose cost is bounded whatever the table's size.

Portable SQL (PostgreSQL, SQLite, MySQL and MariaDB run it as written), so it
lives here rather than in a vendor module. Each ``WHERE`` names one state (or
the terminal states with a time range), so that on PostgreSQL every branch is
a range of that state's partial index, read index-only where the index
carries the columns (migration 0011).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connections

from ..models import Job

TABLE = Job._meta.db_table


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


__all__ = ["job_count_by_queue_sampled", "job_count_estimated_by_queue", "job_count_finished_per_minute"]
