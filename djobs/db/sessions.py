"""The database sessions of atomic jobs: named in their worker's row, ended when it is presumed dead.

An atomic job's transaction holds row locks until it commits. A worker paused
(SIGSTOP, a partition) keeps them until the server notices the dead client,
hours later on TCP keepalive, and the rescued attempt would wait on them. So
each connection that runs an atomic job adds its session id to its worker's
row (``djobs_worker.sessions``, job thread -> session) once, and the rescuer terminates the sessions
of the workers it deletes: their locks go, and a late commit fails.

SQLite has no sessions to end (one writer; a paused one holds the file lock).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence

from django.db import DatabaseError

from .alias import AliasOps

logger = logging.getLogger("djobs")

# One statement: this connection's session id under this thread's key, so the
# object holds one session per job thread however often connections are reopened
# (CONN_MAX_AGE = 0 opens one per job).
_REGISTER = {
    # A pid is reused once its backend exits: its start time makes the id unique.
    "postgresql": """
        UPDATE djobs_worker SET sessions =
            (CASE WHEN jsonb_typeof(sessions) = 'object' THEN sessions ELSE '{}'::jsonb END)
            || jsonb_build_object(CAST(%s AS TEXT), (
                SELECT pid || ':' || CAST(EXTRACT(EPOCH FROM backend_start) AS TEXT)
                FROM pg_stat_activity WHERE pid = pg_backend_pid()))
        WHERE id = %s
    """,
    # Connection ids are not reused until the server restarts.
    "mysql": """
        UPDATE djobs_worker SET sessions = JSON_SET(
            IF(JSON_TYPE(sessions) = 'OBJECT', sessions, JSON_OBJECT()),
            CONCAT('$."', %s, '"'), CAST(CONNECTION_ID() AS CHAR))
        WHERE id = %s
    """,
}

_TERMINATE_PG = """
    SELECT count(*) FILTER (WHERE pg_terminate_backend(pid{wait}))
    FROM pg_stat_activity
    WHERE pid || ':' || CAST(EXTRACT(EPOCH FROM backend_start) AS TEXT) = ANY(%s)
"""

# Seconds pg_terminate_backend waits for each session to exit (PostgreSQL 14+).
TERMINATE_WAIT = 5.0

FIX = {
    "postgresql": "GRANT pg_signal_backend TO <the role djobs connects as>, or have every worker and "
    "the rescuer connect as the same role",
    "mysql": "have every worker and the rescuer connect as the same user, or grant the rescuer's user "
    "CONNECTION ADMIN (SUPER before MariaDB 10.5.2)",
}

_warned: set[str] = set()


class SessionOps(AliasOps):
    """The session half of :class:`djobs.db.base.DatabaseOps` (atomic jobs and the rescuer)."""

    def worker_session_register(self, *, worker_id: str) -> None:
        """Name this connection's session in ``worker_id``'s row (once per connection, per thread)."""
        wrapper = self.connection
        sql = _REGISTER.get(wrapper.vendor)
        if sql is None:
            return
        wrapper.ensure_connection()
        raw = wrapper.connection
        known = getattr(wrapper, "_djobs_session", None)
        if known is not None and known[0] is raw and known[1] == worker_id:
            return
        with wrapper.cursor() as cursor:
            cursor.execute(sql, [str(threading.get_ident()), worker_id])
        wrapper._djobs_session = (raw, worker_id)  # type: ignore[attr-defined]

    def session_lock_timeout(self, seconds: float | None) -> None:
        """Bound this transaction's lock waits to ``seconds`` (None: the database's default)."""
        wrapper = self.connection
        if wrapper.vendor == "postgresql":
            if seconds is not None:
                with wrapper.cursor() as cursor:
                    # Transaction-local (is_local): the next transaction has the default again.
                    cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{_ms(seconds)}ms"])
        elif wrapper.vendor == "mysql":
            # A session variable, in whole seconds: set per job, back to the default after.
            wanted = None if seconds is None else max(1, math.ceil(seconds))
            if getattr(wrapper, "_djobs_lock_wait", None) != wanted:
                with wrapper.cursor() as cursor:
                    cursor.execute(
                        "SET SESSION innodb_lock_wait_timeout = "
                        + ("DEFAULT" if wanted is None else str(int(wanted)))
                    )
                wrapper._djobs_lock_wait = wanted  # type: ignore[attr-defined]

    def session_terminate(self, sessions: Sequence[str]) -> int:
        """End the sessions named (their transactions roll back, their locks go); return how many.

        A role that may not end them gets one warning naming the fix; the rescue
        goes on, and skips the rows those sessions still lock.
        """
        wrapper = self.connection
        if not sessions or wrapper.vendor not in _REGISTER:
            return 0
        try:
            if wrapper.vendor == "postgresql":
                waits = getattr(wrapper, "pg_version", 0) >= 140000
                wait = f", {int(TERMINATE_WAIT * 1000)}" if waits else ""
                with wrapper.cursor() as cursor:
                    cursor.execute(_TERMINATE_PG.format(wait=wait), [list(sessions)])
                    return int(cursor.fetchone()[0])
            ended = 0
            with wrapper.cursor() as cursor:
                for session in sessions:
                    try:
                        cursor.execute(f"KILL CONNECTION {int(session)}")
                        ended += 1
                    except DatabaseError as exc:
                        if exc.args and exc.args[0] == 1094:  # unknown thread id: already gone
                            continue
                        raise
            return ended
        except DatabaseError as exc:
            if wrapper.vendor not in _warned:
                _warned.add(wrapper.vendor)
                logger.warning(
                    "djobs could not end the database sessions of a dead worker (%s): its atomic jobs' "
                    "locks stay until the server drops the connection, and their rescue waits. Fix: %s "
                    "(docs/concepts/durability.md)",
                    exc,
                    FIX[wrapper.vendor],
                )
            return 0


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


__all__ = ["FIX", "TERMINATE_WAIT", "SessionOps"]
