"""Stopping running jobs whose row is no longer theirs: cancelled by an operator, or rescued.

An operator cancels a running job by writing its row ``cancelled``
(``djobs.operations.cancel``, the admin, ``jobs cancel``); the worker running
it learns by looking. While jobs run, the watchdog calls ``CancelWatch.check``
each tick; at most once per min(1 s, POLL_INTERVAL) it reads the rows of the
jobs this process runs, by primary key. A running job whose row is no longer
``executing`` under this worker and attempt is asked to stop: its context's
``cancelled`` flag turns True and ``JobCancelled`` is raised in its thread (an
async job's task is cancelled), as a timeout would be. Its outcome is never
recorded: the row is ``cancelled`` already, or it was rescued (the process
was paused past RESCUE_AFTER) and is another attempt's now, whose result
this one's would only be dropped by the fencing anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from django.db import DatabaseError, connections

from ..context import StopRequest, request_stop
from ..exceptions import JobCancelled
from ..states import JobState
from .timeouts import RunningJob, expire

if TYPE_CHECKING:
    from .producer import Producer

logger = logging.getLogger("djobs")

# Seconds between reads at most; a shorter POLL_INTERVAL shortens it.
CHECK_EVERY = 1.0

Holder = tuple[str, str | None, int]


def stop_requests(
    running: Iterable[RunningJob], rows: Mapping[int, Holder], worker_id: str
) -> list[tuple[RunningJob, StopRequest]]:
    """Return the running jobs whose row (``rows``: id -> state, worker, attempt) left them, and why."""
    stops = []
    for run in running:
        job = run.job
        row = rows.get(job.id)
        if row == (JobState.EXECUTING, worker_id, job.attempt):
            continue
        if row is not None and row[1:] == (worker_id, job.attempt) and row[0] != JobState.CANCELLED:
            continue  # its own outcome, committed by its thread (an atomic job) as it ends
        if row is None:
            request = StopRequest(f"job {job.id} ({job.path}) was deleted while it ran", cancelled=True)
        elif row[0] == JobState.CANCELLED:
            request = StopRequest(f"job {job.id} ({job.path}) was cancelled while it ran", cancelled=True)
        else:
            request = StopRequest(
                f"job {job.id} ({job.path}) was taken from worker {worker_id} while it ran "
                f"(now {row[0]}, attempt {row[2]}); this attempt's result would be ignored",
                cancelled=False,
            )
        stops.append((run, request))
    return stops


class CancelWatch:
    """Reads the rows of one process's running jobs now and then; stops those no longer its own."""

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self._read_at = float("-inf")

    def check(self, producers: Iterable[Producer], now: float) -> int:
        """Stop the running jobs cancelled or rescued since the last read; return how many."""
        producers = list(producers)
        if not producers:
            return 0
        interval = min(CHECK_EVERY, *(p.poll_interval for p in producers))
        if now - self._read_at < interval:
            return 0
        running = [
            (producer, run)
            for producer in producers
            for run in list(producer.running.values())
            if not run.done and not run.timed_out
        ]
        if not running:
            return 0
        self._read_at = now
        ops = producers[0].ops
        try:
            rows = ops.job_get_holders([run.job.id for _, run in running])
        except DatabaseError as exc:
            # Not fatal: the next read, a second later, tries again.
            connections[ops.alias].close_if_unusable_or_obsolete()
            logger.warning("djobs could not check its running jobs for cancellation: %s", exc)
            return 0
        by_run = {id(run): producer for producer, run in running}
        stopped = 0
        for run, request in stop_requests((run for _, run in running), rows, self.worker_id):
            request_stop(run.job, request)
            if not expire(run, now, JobCancelled):
                continue  # it ended meanwhile
            stopped += 1
            row = rows.get(run.job.id)
            if row is None or row[0] != JobState.EXECUTING or row[1] != self.worker_id:
                # No longer executing here under any attempt: nothing for orphan repair to keep.
                by_run[id(run)].holdings.discard([run.job.id])
            logger.log(
                logging.INFO if request.cancelled else logging.WARNING,
                "djobs %s; it is interrupted and its outcome will not be recorded",
                request.reason,
                extra={"job_id": run.job.id, "job_path": run.job.path, "cancelled": request.cancelled},
            )
        return stopped


__all__ = ["CHECK_EVERY", "CancelWatch", "stop_requests"]
