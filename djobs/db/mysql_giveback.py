"""Handing executing jobs back on MySQL and MariaDB: rescue and release.

The rule is djobs.db.fragments' (a job that started keeps its attempt, one
that never started gets it back once per attempt number, each gets an error
entry saying which); two things make the statement differ here:

- A single-table UPDATE assigns from left to right, each assignment seeing
  the columns already assigned (PostgreSQL and SQLite see the old row). So the
  columns that decide are read before they change: ``errors`` is appended
  after ``state``, ``finished_at`` and ``unique_key`` are decided on the old
  row, and ``attempt`` is decided last from the entry just appended (its
  ``given_back`` is NULL exactly when the attempt counts).
- No ``||``, ``CAST(... AS TEXT)``, or ``$[last]`` (MariaDB < 10.9) in the
  SQL; and the JSON ``null`` of ``given_back`` is compared as text, since
  casting it to a number is an error in a strict-mode UPDATE.

There is no RETURNING on UPDATE: the caller locks the rows first (rescue with
FOR UPDATE SKIP LOCKED, a release waiting for its own), updates exactly those,
and reads them back in one transaction.
"""

from __future__ import annotations

from ..states import STATE_BITS
from .fragments import keep_key


def last_entry(name: str) -> str:
    """Return SQL for field ``name`` of the last entry of ``errors``, as text (NULL if none)."""
    return (
        "CASE WHEN JSON_LENGTH(errors) > 0 THEN JSON_UNQUOTE(JSON_EXTRACT(errors, "
        f"CONCAT('$[', JSON_LENGTH(errors) - 1, '].{name}'))) END"
    )


def append_error(fields: str) -> str:
    """Return SQL for ``errors`` with the JSON object of ``fields`` appended."""
    return f"JSON_ARRAY_APPEND(errors, '$', JSON_OBJECT({fields}))"


# Whether the attempt counts, read on the row as it was.
_COUNTED = f"(attempted_at IS NOT NULL OR COALESCE({last_entry('given_back')}, '') = CAST(attempt AS CHAR))"
_EXHAUSTED = f"({_COUNTED} AND attempt >= max_attempts)"


def _error_fields() -> str:
    text = (
        "CONCAT(%(prefix)s, COALESCE(worker_id, '(none)'), "
        "CASE WHEN attempted_at IS NOT NULL THEN %(started)s "
        f"WHEN {_COUNTED} THEN %(again)s ELSE %(unstarted)s END)"
    )
    return (
        "'attempt', attempt, 'at', CAST(%(at)s AS CHAR), "
        f"'error', {text}, 'traceback', NULL, "
        "'exception', CAST(%(exception)s AS CHAR), 'worker_id', worker_id, "
        f"'given_back', CASE WHEN {_COUNTED} THEN NULL ELSE attempt END"
    )


def give_back_update(ids_sql: str) -> str:
    """Return the UPDATE handing back the executing jobs whose id is in ``ids_sql``.

    Parameters: now, at (ISO text), exception, prefix, started, unstarted, again.
    The order of the assignments is the point: see the module docstring.
    """
    available, discarded = STATE_BITS["available"], STATE_BITS["discarded"]
    return f"""
        UPDATE djobs_job SET
            unique_key = CASE WHEN {_EXHAUSTED} THEN {keep_key(str(discarded))}
                              ELSE {keep_key(str(available))} END,
            finished_at = CASE WHEN {_EXHAUSTED} THEN %(now)s ELSE NULL END,
            state = CASE WHEN {_EXHAUSTED} THEN 'discarded' ELSE 'available' END,
            errors = {append_error(_error_fields())},
            attempt = CASE WHEN {last_entry("given_back")} IS NULL
                             OR {last_entry("given_back")} = 'null' THEN attempt ELSE attempt - 1 END,
            scheduled_at = %(now)s,
            worker_id = NULL
        WHERE state = 'executing' AND id IN ({ids_sql})
    """


__all__ = ["append_error", "give_back_update", "last_entry"]
