"""PostgreSQL wake-ups: LISTEN on a dedicated connection, or a change counter behind a pooler.

A LISTEN needs a server session of its own for as long as it listens. Behind
a transaction-mode pooler (``DJOBS["TRANSACTION_POOLING"]``) there is none, so
an idle producer watches ``change_counter()`` instead, read at most every
``DJOBS["WAKE_POLL_INTERVAL"]`` seconds per process, as on MySQL.
"""

from __future__ import annotations

from typing import Any

from ..conf import get_settings
from .change_counter import PolledChangeCounter

# One channel for the whole database; the payload is the queue name, so a
# worker can ignore wake-ups for queues it does not serve.
NOTIFY_CHANNEL = "djobs_insert"


def pooling() -> bool:
    """Say whether the database is reached through a transaction-mode pooler."""
    return get_settings().TRANSACTION_POOLING


class PostgresWakeups(PolledChangeCounter):
    """How a PostgreSQL worker learns of new jobs."""

    @property
    def supports_listen(self) -> bool:  # type: ignore[override]
        """LISTEN holds a server session open: not behind a transaction pooler."""
        return not pooling()

    @property
    def supports_change_counter(self) -> bool:  # type: ignore[override]
        """Only behind a transaction pooler: elsewhere LISTEN wakes the producers."""
        return pooling()

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
