"""The registry of live ``runjobs`` processes: register, heartbeat, and presume dead.

A heartbeat writes the database's clock (``db_now_sql``), never a worker's.
Staleness is not read from that time: a rescuer watches each worker's
heartbeat value and presumes it dead once the value has not changed for
RESCUE_AFTER on the rescuer's own monotonic clock, so no two machines' clocks
are ever compared. ``worker_delete_unchanged`` removes such a worker only if
its heartbeat is still the value the rescuer watched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .alias import AliasOps


class WorkerOps(AliasOps):
    """The worker-process half of :class:`djobs.db.base.DatabaseOps`."""

    #: SQL for the database's current time, as stored in a DateTimeField.
    db_now_sql = "CURRENT_TIMESTAMP"

    def worker_register(
        self, *, worker_id: str, hostname: str, pid: int, queues: dict[str, int], now: Any
    ) -> None:
        """Insert (or refresh) this process's WorkerProcess row."""
        from ..models import WorkerProcess

        # One INSERT ... ON CONFLICT DO UPDATE: update_or_create reads, then writes,
        # and on SQLite two processes starting together deadlock on that upgrade.
        row = WorkerProcess(
            id=worker_id, hostname=hostname, pid=pid, queues=queues, started_at=now, heartbeat_at=now
        )
        WorkerProcess.objects.using(self.alias).bulk_create(
            [row],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=["hostname", "pid", "queues", "started_at", "heartbeat_at"],
        )

    def worker_heartbeat(
        self, *, worker_id: str, hostname: str, pid: int, queues: dict[str, int], now: Any
    ) -> bool:
        """Set the heartbeat to the database's clock; re-insert a deleted row (returns False)."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE djobs_worker SET heartbeat_at = {self.db_now_sql} WHERE id = %s", [worker_id]
            )
            updated = cursor.rowcount
        if not updated:
            self.worker_register(worker_id=worker_id, hostname=hostname, pid=pid, queues=queues, now=now)
        return bool(updated)

    def worker_unregister(self, *, worker_id: str) -> None:
        """Delete this process's WorkerProcess row."""
        from ..models import WorkerProcess

        WorkerProcess.objects.using(self.alias).filter(id=worker_id).delete()

    def worker_heartbeats(self) -> dict[str, Any]:
        """Return each registered worker's heartbeat value, as stored (compare, never parse)."""
        with self.connection.cursor() as cursor:
            # As text: a value read back as a datetime may not compare equal to what
            # is stored (SQLite keeps milliseconds as written by its clock).
            cursor.execute(f"SELECT id, {self.heartbeat_text_sql} FROM djobs_worker")
            return dict(cursor.fetchall())

    #: SQL for a heartbeat as text, compared as stored.
    heartbeat_text_sql = "CAST(heartbeat_at AS TEXT)"

    def worker_delete_unchanged(self, *, heartbeats: Mapping[str, Any]) -> list[str]:
        """Delete the workers whose heartbeat is still the value given; return their ids."""
        return list(self.worker_delete_dead(heartbeats=heartbeats))

    def worker_delete_dead(self, *, heartbeats: Mapping[str, Any]) -> dict[str, list[str]]:
        """``worker_delete_unchanged``, returning each deleted worker's sessions (djobs.db.sessions)."""
        deleted = {}
        with self.connection.cursor() as cursor:
            for worker_id, value in heartbeats.items():
                cursor.execute(
                    f"DELETE FROM djobs_worker WHERE id = %s AND {self.heartbeat_text_sql} = %s "
                    "RETURNING sessions",
                    [worker_id, value],
                )
                row = cursor.fetchone()
                if row is not None:
                    sessions = json.loads(row[0]) if isinstance(row[0], str) else row[0]
                    if isinstance(sessions, dict):  # job thread -> session
                        sessions = list(sessions.values())
                    deleted[worker_id] = [str(session) for session in sessions or []]
        return deleted


__all__ = ["WorkerOps"]
