"""PostgreSQL LISTEN on a dedicated connection: wake a queue's producer at the enqueuing commit.

Enqueue sends ``NOTIFY djobs_insert, '<queue>'`` inside its transaction, so the
wake-up arrives when, and only if, the job is committed. If the connection
breaks, producers keep polling (``POLL_INTERVAL``) while the notifier
reconnects; after reconnecting it wakes every producer, since notifications
sent meanwhile are lost.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..db.base import DatabaseOps

logger = logging.getLogger("djobs")


class Notifier:
    """The LISTEN thread; calls ``on_wake(queue)`` for each notification."""

    def __init__(
        self,
        ops: DatabaseOps,
        on_wake: Callable[[str], None],
        on_reconnect: Callable[[], None],
        retry_interval: float,
    ) -> None:
        self.ops = ops
        self.on_wake = on_wake
        self.on_reconnect = on_reconnect
        self.retry_interval = retry_interval
        self.stopping = False
        self.connected = threading.Event()
        self.connects = 0
        self._conn: Any = None
        self._thread = threading.Thread(target=self._run, name="djobs-notifier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping = True

    def break_connection(self) -> None:
        """Close the LISTEN connection from outside (for tests of the reconnect)."""
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                self.ops.listen_break(conn)

    def _run(self) -> None:
        listen_connect = self.ops.listen_connect
        listen_wait = self.ops.listen_wait
        failures = 0
        while not self.stopping:
            try:
                self._conn = listen_connect()
                self.connects += 1
                if failures or self.connects > 1:
                    logger.info("djobs LISTEN connection re-established")
                    self.on_reconnect()
                failures = 0
                self.connected.set()
                while not self.stopping:
                    for queue in listen_wait(self._conn, 1.0):
                        self.on_wake(queue)
            except Exception as exc:
                self.connected.clear()
                failures += 1
                if not self.stopping:
                    logger.warning(
                        "djobs LISTEN connection lost (%s); polling until it is back",
                        exc,
                        extra={"error": str(exc)},
                    )
                    threading.Event().wait(min(0.1 * 2 ** (failures - 1), self.retry_interval, 5.0))
            finally:
                conn, self._conn = self._conn, None
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()


__all__ = ["Notifier"]
