"""PostgreSQL wake-ups: LISTEN on a dedicated connection, or a change counter behind a pooler.

A LISTEN needs a server session of its own for as long as it listens. Behind
a transaction-mode pooler (``DJOBS["TRANSACTION_POOLING"]``) there is none, so
an idle producer watches ``change_counter()`` instead, read at most every
``DJOBS["WAKE_POLL_INTERVAL"]`` seconds per process, as on MySQL.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..conf import get_settings
from .base import DatabaseOps

# One channel for the whole database; the payload is the queue name, so a
# worker can ignore wake-ups for queues it does not serve.
NOTIFY_CHANNEL = "djobs_insert"

# The newest job id and the number of available jobs (up to a cap) change when
# another connection commits new jobs, or stages or gives back old ones. The
# count stops at the cap: with a backlog that big, producers are not idle.
_AVAILABLE_CAP = 100
_CHANGE_SQL = f"""
    SELECT (SELECT COALESCE(max(id), 0) FROM djobs_job),
           (SELECT count(*) FROM (SELECT 1 FROM djobs_job WHERE state = 'available'
                                  LIMIT {_AVAILABLE_CAP}) AS waiting)
"""


def pooling() -> bool:
    """Say whether the database is reached through a transaction-mode pooler."""
    return get_settings().TRANSACTION_POOLING


class _Poll:
    """The last change counter read per alias, shared by a process's producers."""

    lock = threading.Lock()
    values: dict[str, int] = {}
    read_at: dict[str, float] = {}


class PostgresWakeups(DatabaseOps):
    """How a PostgreSQL worker learns of new jobs."""

    @property
    def supports_listen(self) -> bool:  # type: ignore[override]
        """LISTEN holds a server session open: not behind a transaction pooler."""
        return not pooling()

    @property
    def supports_change_counter(self) -> bool:  # type: ignore[override]
        """Only behind a transaction pooler: elsewhere LISTEN wakes the producers."""
        return pooling()

    @property
    def change_counter_interval(self) -> float:  # type: ignore[override]
        """How stale change_counter() may be: DJOBS["WAKE_POLL_INTERVAL"]."""
        return get_settings().WAKE_POLL_INTERVAL

    def change_counter(self) -> int:
        # One query per WAKE_POLL_INTERVAL per process, however many producers poll.
        now = time.monotonic()
        interval = get_settings().WAKE_POLL_INTERVAL
        with _Poll.lock:
            cached = _Poll.values.get(self.alias)
            if cached is not None and now - _Poll.read_at.get(self.alias, float("-inf")) < interval:
                return cached
            _Poll.read_at[self.alias] = now
        with self.connection.cursor() as cursor:
            cursor.execute(_CHANGE_SQL)
            newest, waiting = cursor.fetchone()
        value = int(newest) * (_AVAILABLE_CAP + 1) + int(waiting)
        _Poll.values[self.alias] = value
        return value

    def listen_connect(self) -> Any:
        """Open a dedicated autocommit connection LISTENing on NOTIFY_CHANNEL."""
        import psycopg

        params = dict(self.connection.get_connection_params())
        for key in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(key, None)
        conn = psycopg.connect(autocommit=True, **params)
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return conn

    def listen_break(self, conn: Any) -> None:
        conn.pgconn.finish()

    def listen_wait(self, conn: Any, timeout: float) -> list[str]:
        """Wait up to ``timeout`` s for notifications; return their payloads (queue names)."""
        return [n.payload for n in conn.notifies(timeout=timeout, stop_after=1)] + [
            n.payload for n in conn.notifies(timeout=0)
        ]


__all__ = ["NOTIFY_CHANNEL", "PostgresWakeups", "pooling"]
