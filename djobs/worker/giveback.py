"""What follows jobs handed back to the database by rescue or release."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..hooks import TerminalJob, hooks

if TYPE_CHECKING:
    from ..db.base import DatabaseOps
    from ..db.fragments import MovedJob


def settle_moved(ops: DatabaseOps, moved: list[MovedJob], *, deferred: bool = False) -> None:
    """Wake the queues of jobs back to available; tell the terminal hooks of discarded ones."""
    queues = sorted({job.queue for job in moved if job.state == "available"})
    if queues and ops.supports_listen_notify:
        ops.notify_inserted(queues)
    ended = [TerminalJob(job.id, job.state, job.queue, job.meta) for job in moved if job.state != "available"]
    hooks.after_terminal(ended, deferred=deferred)


__all__ = ["settle_moved"]
