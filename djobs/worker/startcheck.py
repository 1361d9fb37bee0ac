"""May a claimed job start here? Not if it was claimed before a heartbeat lapse and rescued since.

A job claimed in the current heartbeat epoch starts at once. One claimed
before a lapse (the process was paused, or cut off from the database) starts
only after the rows this worker still holds have been read again, once per
epoch; a job rescued meanwhile is not among them and is dropped, never run
twice. The thread pool and the event loop (in a thread: it may wait and
query) ask the same ``StartCheck``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import connections

if TYPE_CHECKING:
    from ..db.base import DatabaseOps
    from ..models import Job
    from .heartbeat import Heartbeat
    from .holdings import Holdings

logger = logging.getLogger("djobs")


class StartCheck:
    """The start check of one producer's jobs."""

    def __init__(
        self,
        *,
        ops: DatabaseOps,
        worker_id: str,
        heartbeat: Heartbeat,
        holdings: Holdings,
        poll_interval: float,
        stopping: Callable[[], bool],
        give_back: Callable[[Job], None],
    ) -> None:
        self.ops = ops
        self.worker_id = worker_id
        self.heartbeat = heartbeat
        self.holdings = holdings
        self.poll_interval = poll_interval
        self._stopping = stopping
        self._give_back = give_back
        # The rows this worker held, read once per heartbeat epoch after a lapse.
        self._held: tuple[int, set[tuple[int, int]]] | None = None
        self._held_lock = threading.Lock()

    def current(self, epoch: int) -> bool:
        """Say whether a job claimed in ``epoch`` may start without a look at the database."""
        return epoch == self.heartbeat.epoch and self.heartbeat.fresh()

    def may_start(self, job: Job, epoch: int) -> bool:
        """Say whether ``job`` may start: claimed in this heartbeat epoch, or still held by us.

        While the heartbeat is not fresh this waits; a stop meanwhile gives the
        job back. A job no longer held is dropped from this process's holdings.
        """
        heartbeat = self.heartbeat
        if epoch == heartbeat.epoch and heartbeat.fresh():
            return True
        while not heartbeat.wait_fresh(self.poll_interval):
            if self._stopping():
                self._give_back(job)
                return False
        current = heartbeat.epoch
        with self._held_lock:
            if self._held is None or self._held[0] != current:
                try:
                    self._held = (current, self.ops.job_list_executing(worker_id=self.worker_id))
                except Exception as exc:
                    connections[self.ops.alias].close_if_unusable_or_obsolete()
                    logger.warning("djobs could not re-check the jobs it holds: %s", exc)
                    self._held = None
                    return self._drop(job)
            held = self._held[1]
        return (job.id, job.attempt) in held or self._drop(job)

    def _drop(self, job: Job) -> bool:
        logger.warning(
            "djobs job %s %s was claimed before a heartbeat lapse and is no longer held by this "
            "worker (rescued meanwhile): not started here",
            job.id,
            job.path,
            extra={"job_id": job.id, "job_path": job.path},
        )
        self.holdings.discard([job.id])
        return False


__all__ = ["StartCheck"]
