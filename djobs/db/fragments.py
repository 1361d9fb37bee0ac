"""SQL pieces every database module shares: the unique-key rule and handing jobs back.

Each database module supplies what differs (how an entry is appended to the
``errors`` JSON list, how a list of ``(id, attempt)`` pairs is bound); the rules
themselves are written here once. Parameters are named (``%(now)s``), which
every Django backend accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ..states import STATE_BITS


class MovedJob(NamedTuple):
    """A job a statement moved out of ``executing``: where it went, and whether its key may return."""

    id: int
    state: str
    queue: str
    meta: dict[str, Any]
    rekey: bool


def state_bit(column: str) -> str:
    """Return SQL for the STATE_BITS bit of the state in ``column``."""
    whens = " ".join(f"WHEN '{state}' THEN {bit}" for state, bit in STATE_BITS.items())
    return f"(CASE {column} {whens} ELSE 0 END)"


def keep_key(bit_sql: str, prefix: str = "") -> str:
    """Return SQL keeping ``unique_key`` only if the row's mask covers the state of bit ``bit_sql``.

    The statement that moves a job out of the states its uniqueness covers
    clears the key, so a new job with the same key can be enqueued.
    """
    return f"CASE WHEN {prefix}unique_states & {bit_sql} <> 0 THEN {prefix}unique_key ELSE NULL END"


def rekey(prefix: str = "") -> str:
    """Return SQL, read in RETURNING, saying whether the row should take its key back.

    True when the row's new state is covered by its uniqueness but it holds no
    key (it was cleared in an uncovered state): ``DatabaseOps.job_restore_unique``
    then gives it back if no other job took it meanwhile.
    """
    # COALESCE, not IS NULL: SQLite (3.40) answers "unique_key IS NULL" wrongly in
    # RETURNING, trusting the partial unique index's "WHERE unique_key IS NOT NULL".
    # Keys are 64 hex characters, never empty.
    return (
        f"({prefix}unique_base IS NOT NULL AND COALESCE({prefix}unique_key, '') = '' "
        f"AND ({prefix}unique_states & {state_bit(prefix + 'state')}) <> 0)"
    )


RESTORE_KEY_SQL = f"""
    UPDATE djobs_job SET unique_key = unique_base
    WHERE id = %(id)s AND unique_key IS NULL AND unique_base IS NOT NULL
      AND (unique_states & {state_bit("state")}) <> 0
      AND NOT EXISTS (SELECT 1 FROM djobs_job AS holder WHERE holder.unique_key = djobs_job.unique_base)
"""


# A job handed back: one that started keeps its attempt (discarded when it has
# none left); one claimed but never started gets it back, once per attempt
# number. A start is written about 100 ms after it happens, so a job that kills
# its worker as it starts looks unstarted: the second time the same attempt
# comes back unstarted it counts, and such a job still runs out of attempts.
# Each entry records the attempt it gave back in "given_back".
def _counted(last_entry: Callable[[str], str]) -> str:
    again = f"COALESCE(CAST({last_entry('given_back')} AS INTEGER), -1) = attempt"
    return f"(attempted_at IS NOT NULL OR {again})"


# Rescue takes jobs held by no registered worker (the dead ones' rows are deleted
# first, fenced on the heartbeat a rescuer watched), never its own worker's.
RESCUE_WHERE = (
    "(worker_id IS NULL OR (worker_id <> %(me)s AND worker_id NOT IN (SELECT id FROM djobs_worker)))"
)

RESCUED = {
    "exception": "djobs.exceptions.WorkerLost",
    "prefix": "WorkerLost: worker ",
    "started": " stopped heartbeating while running this attempt; the job was rescued",
    "unstarted": (
        " stopped heartbeating before this job started: it was claimed but never started, "
        "so the attempt is not counted; the job was rescued"
    ),
    "again": (
        " stopped heartbeating before this job was seen to start, the second time at this "
        "attempt: the attempt counts (a job that kills its worker as it starts must run out "
        "of attempts); the job was rescued"
    ),
}


def released(reason: str) -> dict[str, str]:
    """Return the error texts of jobs released by their own worker for ``reason``."""
    return {
        "exception": "djobs.exceptions.WorkerReleased",
        "prefix": "WorkerReleased: worker ",
        "started": f" {reason}; the attempt counts and the job will run again",
        "unstarted": f" {reason}; it was claimed but never started, so the attempt is not counted",
        "again": (
            f" {reason}; it was not seen to start, the second time at this attempt, so the attempt counts"
        ),
    }


def give_back_sql(*, append_error: Callable[[str], str], last_entry: Callable[[str], str], where: str) -> str:
    """Return the UPDATE handing executing jobs matching ``where`` back to available.

    ``append_error(fields)`` returns the vendor's expression for ``errors``
    with a JSON object of ``fields`` (:func:`error_fields`) appended;
    ``last_entry(name)`` the vendor's expression for field ``name`` of the
    last entry of ``errors``. Parameters: now, at (ISO text), exception,
    prefix, started, unstarted, again.
    """
    counted = _counted(last_entry)
    exhausted = f"({counted} AND attempt >= max_attempts)"
    available, discarded = STATE_BITS["available"], STATE_BITS["discarded"]
    return f"""
        UPDATE djobs_job SET
            state = CASE WHEN {exhausted} THEN 'discarded' ELSE 'available' END,
            attempt = CASE WHEN {counted} THEN attempt ELSE attempt - 1 END,
            finished_at = CASE WHEN {exhausted} THEN %(now)s ELSE NULL END,
            scheduled_at = %(now)s,
            errors = {append_error(error_fields(counted))},
            unique_key = CASE WHEN {exhausted} THEN {keep_key(str(discarded))}
                              ELSE {keep_key(str(available))} END,
            worker_id = NULL
        WHERE state = 'executing' AND {where}
        RETURNING id, state, queue, meta, {rekey()}
    """


def error_fields(counted: str) -> str:
    """Return the entry's ``key, value`` list for json(b)_build_object / json_object."""
    text = (
        "CAST(%(prefix)s AS TEXT) || COALESCE(worker_id, '(none)') || "
        "CASE WHEN attempted_at IS NOT NULL THEN CAST(%(started)s AS TEXT) "
        f"WHEN {counted} THEN CAST(%(again)s AS TEXT) ELSE CAST(%(unstarted)s AS TEXT) END"
    )
    return (
        "'attempt', attempt, 'at', CAST(%(at)s AS TEXT), "
        f"'error', {text}, 'traceback', NULL, "
        "'exception', CAST(%(exception)s AS TEXT), 'worker_id', worker_id, "
        f"'given_back', CASE WHEN {counted} THEN NULL ELSE attempt END"
    )


def give_back_params(texts: dict[str, str], now: Any, adapt_now: Any) -> dict[str, Any]:
    """Return the parameters of a give_back_sql statement."""
    return {"now": adapt_now, "at": now.isoformat(), **texts}


def moved_rows(rows: list[tuple[Any, ...]]) -> list[MovedJob]:
    """Return RETURNING rows ``(id, state, queue, meta, rekey)`` as MovedJob."""
    import json

    return [
        MovedJob(pk, state, queue, json.loads(meta) if isinstance(meta, str) else (meta or {}), bool(key))
        for pk, state, queue, meta, key in rows
    ]


__all__ = [
    "RESCUED",
    "RESCUE_WHERE",
    "RESTORE_KEY_SQL",
    "MovedJob",
    "error_fields",
    "give_back_params",
    "give_back_sql",
    "keep_key",
    "moved_rows",
    "rekey",
    "released",
    "state_bit",
]
