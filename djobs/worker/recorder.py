"""Write outcomes back in batches: one fenced statement for everything that finished meanwhile.

Job threads push ``(job, transition)`` pairs; the recorder thread takes the
first, drains whatever else is waiting, and writes them all in one statement
(``DatabaseOps.job_record_outcomes``). It never sleeps while outcomes wait, so
the batch size follows the load: one row when idle, hundreds under pressure.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections
from django.utils import timezone

from ..db.base import dispatcher_thread
from ..transitions import COMPLETED, Transition
from .hooks import TerminalJob, run_after_terminal

if TYPE_CHECKING:
    from ..db.base import DatabaseOps
    from ..models import Job

logger = logging.getLogger("djobs")

_STOP = object()
# Outcomes written per statement at most.
MAX_BATCH = 1000
# Producers stop claiming while this many outcomes wait to be written.
MAX_PENDING = 2000
# While fewer outcomes than this wait, wait this long for more before writing.
LINGER_BELOW = 32
LINGER = 0.0005


class Recorder:
    """The thread that writes outcomes; ``push`` is safe from any thread."""

    def __init__(
        self,
        ops_factory: Any,
        worker_id: str,
        on_caught_up: Callable[[], None] | None = None,
    ) -> None:
        self._ops_factory = ops_factory
        self.on_caught_up = on_caught_up
        self._throttled = False
        self.worker_id = worker_id
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        # Bumped after every write, so the burst check can tell "nothing changed".
        self.generation = 0
        self.recorded = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="djobs-recorder", daemon=True)

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def backlogged(self) -> bool:
        """Say whether so many outcomes wait that producers should stop claiming."""
        if self._pending >= MAX_PENDING:
            self._throttled = True
            return True
        return False

    def start(self) -> None:
        self._thread.start()

    def push(self, job: Job, transition: Transition) -> None:
        """Queue one outcome for writing."""
        with self._lock:
            self._pending += 1
        self._queue.put((job, transition))

    def stop(self, timeout: float) -> None:
        """Write what is queued, then stop the thread (waits up to ``timeout`` s)."""
        if self._thread.ident is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        dispatcher_thread.active = True
        ops: DatabaseOps = self._ops_factory()
        get = self._queue.get
        get_nowait = self._queue.get_nowait
        try:
            while True:
                item = get()
                stopping = item is _STOP
                batch = [] if stopping else [item]
                for linger in (True, False):
                    while len(batch) < MAX_BATCH:
                        try:
                            more = get_nowait()
                        except queue.Empty:
                            break
                        if more is _STOP:
                            stopping = True
                            continue
                        batch.append(more)
                    if not linger or stopping or len(batch) >= LINGER_BELOW:
                        break
                    # A short linger under load turns one wake-up per job into one
                    # per batch; it delays only the outcome's write, never a job.
                    time.sleep(LINGER)
                if batch:
                    self._write(ops, batch, stopping)
                if stopping:
                    return
        finally:
            connections.close_all()

    def _write(self, ops: DatabaseOps, batch: list[tuple[Job, Transition]], stopping: bool) -> None:
        delay = 0.05
        held: set[int] = set()
        for attempt in range(1, 1_000_000):
            try:
                held = ops.job_record_outcomes(worker_id=self.worker_id, outcomes=batch)
                break
            except Exception as exc:  # the recorder thread must not die
                # Keep trying while the database is away. An outcome that cannot be
                # written at all is given back (the job runs again), never dropped.
                connections[ops.alias].close_if_unusable_or_obsolete()
                logger.warning(
                    "djobs could not record %d outcome(s) (try %d): %s",
                    len(batch),
                    attempt,
                    exc,
                    extra={"djobs_worker": self.worker_id, "error": str(exc)},
                )
                if attempt >= 3 and (stopping or not isinstance(exc, DatabaseError)):
                    self._give_back(ops, batch)
                    break
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        terminal = []
        for job, transition in batch:
            if job.id not in held:
                self.dropped += 1
                logger.warning(
                    "djobs did not record the outcome of job %s (%s): it is no longer held by "
                    "this worker (rescued or released meanwhile)",
                    job.id,
                    transition.outcome,
                    extra={"job_id": job.id, "job_path": job.path, "outcome": transition.outcome},
                )
                continue
            if transition.is_terminal:
                terminal.append(TerminalJob(job.id, transition.state, job.queue, job.meta or {}))
            if transition.outcome != COMPLETED:
                _log_outcome(job, transition)
        self.recorded += len(held)
        # Hooks first: until they have run, the outcomes still count as pending,
        # so a burst run cannot see "nothing left" while a hook is about to
        # enqueue more (a batch's callback).
        run_after_terminal(terminal)
        with self._lock:
            self._pending -= len(batch)
            self.generation += 1
        if self._throttled and self._pending < MAX_PENDING:
            self._throttled = False
            if self.on_caught_up is not None:
                self.on_caught_up()

    def _give_back(self, ops: DatabaseOps, batch: list[tuple[Job, Transition]]) -> None:
        # Not recorded: put the jobs back to available so they run again; if even
        # that fails they stay executing and are rescued once this worker is gone.
        try:
            ops.job_release(worker_id=self.worker_id, ids=_give_back_ids(batch), now=timezone.now())
        except Exception:
            logger.exception("djobs could not give back %d job(s)", len(batch))


def _give_back_ids(batch: list[tuple[Job, Transition]]) -> list[int]:
    return [job.id for job, _ in batch]


def _log_outcome(job: Job, transition: Transition) -> None:
    error = (transition.error or {}).get("error", "")
    level = logging.INFO if transition.outcome in ("snoozed", "cancelled") else logging.WARNING
    if logger.isEnabledFor(level):
        logger.log(
            level,
            "djobs job %s %s attempt %d: %s %s",
            job.id,
            job.path,
            job.attempt,
            transition.outcome,
            error,
            extra={
                "job_id": job.id,
                "job_path": job.path,
                "queue": job.queue,
                "attempt": job.attempt,
                "outcome": transition.outcome,
                "state": transition.state,
                "error": error,
            },
        )


__all__ = ["Recorder"]
