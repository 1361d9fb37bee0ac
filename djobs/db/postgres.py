"""PostgreSQL: SKIP LOCKED claims and LISTEN/NOTIFY wake-ups."""

from __future__ import annotations

from collections.abc import Sequence

from .base import DatabaseOps

# One channel for the whole database; the payload is the queue name, so a
# worker can ignore wake-ups for queues it does not serve.
NOTIFY_CHANNEL = "djobs_insert"


class PostgresOps(DatabaseOps):
    supports_skip_locked = True
    supports_listen_notify = True

    def notify_inserted(self, queues: Sequence[str]) -> None:
        # Sent inside the enqueuing transaction: PostgreSQL delivers it at commit,
        # and never if the transaction rolls back.
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_notify(%s, q) FROM unnest(%s::text[]) AS q",
                [NOTIFY_CHANNEL, list(queues)],
            )
