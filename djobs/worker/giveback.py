"""Handing claimed jobs back to the database, and what follows: rescue and release share it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import connections
from django.utils import timezone

from ..hooks import TerminalJob, hooks

if TYPE_CHECKING:
    from ..db.base import DatabaseOps
    from ..db.fragments import MovedJob
    from ..models import Job
    from .holdings import Holdings

logger = logging.getLogger("djobs")


def settle_moved(ops: DatabaseOps, moved: list[MovedJob], *, deferred: bool = False) -> None:
    """Wake the queues of jobs back to available; tell the terminal hooks of discarded ones."""
    queues = sorted({job.queue for job in moved if job.state == "available"})
    if queues and ops.supports_listen_notify:
        ops.notify_inserted(queues)
    ended = [TerminalJob(job.id, job.state, job.queue, job.meta) for job in moved if job.state != "available"]
    hooks.after_terminal(ended, deferred=deferred)


def give_back(
    ops: DatabaseOps,
    jobs: Sequence[Job],
    *,
    worker_id: str,
    reason: str,
    holdings: Holdings,
    deferred: bool = False,
) -> list[MovedJob] | None:
    """Release ``jobs`` (fenced on this worker and their attempts); None if the database refused.

    Either way they leave ``holdings``: a row that could not be released stays
    executing under this worker, and its orphan repair (or, once the worker is
    gone, a rescuer) hands it back later.
    """
    try:
        moved = ops.job_release(
            worker_id=worker_id,
            jobs=[(job.id, job.attempt) for job in jobs],
            now=timezone.now(),
            reason=reason,
        )
        settle_moved(ops, moved, deferred=deferred)
    except Exception as exc:
        connections[ops.alias].close_if_unusable_or_obsolete()
        logger.warning(
            "djobs could not give back %d job(s) (%s); orphan repair or a rescuer will",
            len(jobs),
            exc,
            extra={"djobs_worker": worker_id, "error": str(exc)},
        )
        return None
    finally:
        holdings.discard(job.id for job in jobs)
    return moved


__all__ = ["give_back", "settle_moved"]
