"""Seams for other parts of djobs to react to what the dispatcher recorded.

``after_terminal`` holds callables called with a list of :class:`TerminalJob`
each time the dispatcher (or the rescuer) has committed jobs reaching a
terminal state (completed, discarded, cancelled). Only jobs whose outcome was
actually recorded are passed (a fenced-out late outcome is not). The batches
feature appends its completion check here::

    from djobs.worker import hooks
    hooks.after_terminal.append(check_batches)

Hooks run in the dispatcher's recording thread after the commit; an exception
in a hook is logged and does not undo anything. Keep them short and safe to
call twice for the same job (delivery is at least once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..db.base import DatabaseOps
    from ..db.fragments import MovedJob

logger = logging.getLogger("djobs")


@dataclass(frozen=True)
class TerminalJob:
    """A job that just reached a terminal state."""

    id: int
    state: str
    queue: str
    meta: dict[str, Any] = field(default_factory=dict)


after_terminal: list[Callable[[list[TerminalJob]], None]] = []


def run_after_terminal(jobs: list[TerminalJob]) -> None:
    """Call every ``after_terminal`` hook with ``jobs``; log, never raise."""
    if not jobs:
        return
    for hook in list(after_terminal):
        try:
            hook(jobs)
        except Exception:
            logger.exception("djobs after_terminal hook %r failed", hook, extra={"djobs_hook": repr(hook)})


def settle_moved(ops: DatabaseOps, moved: list[MovedJob]) -> None:
    """Follow up jobs handed back by rescue or release: wake their queues, tell batches of discards."""
    queues = sorted({job.queue for job in moved if job.state == "available"})
    if queues and ops.supports_listen_notify:
        ops.notify_inserted(queues)
    run_after_terminal(
        [TerminalJob(job.id, job.state, job.queue, job.meta) for job in moved if job.state != "available"]
    )


#: Callables run when a ``--burst`` worker finds nothing left to do, before it
#: exits: each finishes work it was handed in the background and returns True
#: if there was any (it may have enqueued jobs), so the worker looks again.
before_idle: list[Callable[[], bool]] = []


def run_before_idle() -> bool:
    """Call every ``before_idle`` hook; say whether any of them had work."""
    busy = False
    for hook in list(before_idle):
        try:
            busy = bool(hook()) or busy
        except Exception:
            logger.exception("djobs before_idle hook %r failed", hook)
    return busy


__all__ = [
    "TerminalJob",
    "after_terminal",
    "before_idle",
    "run_after_terminal",
    "run_before_idle",
    "settle_moved",
]
