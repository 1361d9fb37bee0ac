"""Write outcomes back in batches: one fenced statement for everything that finished meanwhile.

Job threads push ``(job, transition)`` pairs; the recorder thread takes the
first, drains whatever else is waiting, and writes them all in one statement
(``DatabaseOps.job_record_outcomes``). It never sleeps while outcomes wait, so
the batch size follows the load: one row when idle, hundreds under pressure.

It also writes when jobs started, so that rescue can tell a job that ran from
one that only waited for a thread. Job threads do nothing for that but note
the time on the job: every START_MARK_DELAY the recorder looks at the running
jobs (``running``, given by the runner) and writes, in one statement, the
starts of those running longer than that. A job that ends sooner has its start
written with its outcome, so short jobs cost no extra write.

An outcome the database refuses (a value it cannot store) never blocks the
others: the batch is split until the offending outcome is alone, and that job
is discarded with an error that says why. While the database is away the
recorder keeps trying for GIVE_UP_AFTER seconds, then hands the jobs back.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.db import InterfaceError, OperationalError, connections
from django.utils import timezone

from ..db.base import dispatcher_thread
from ..hooks import TerminalJob, hooks
from ..metrics.stats import WorkerStats
from ..states import JobState
from ..transitions import COMPLETED, DISCARDED, Transition, error_entry
from .giveback import give_back
from .holdings import Holdings
from .timeouts import RunningJob

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
# A start is written only if the job has not ended this many seconds later. Under
# load a no-op job can take tens of ms of wall time (threads wait for the GIL);
# a shorter delay turned into one extra UPDATE per batch, ~5% of throughput.
START_MARK_DELAY = 0.1
# Seconds of failed writes (the database away) before outcomes are handed back.
GIVE_UP_AFTER = 60.0
GIVE_BACK_REASON = "could not write the outcome of this attempt (the database refused or was away)"


class Recorder:
    """The thread that writes outcomes; ``push`` is safe from any thread."""

    def __init__(
        self,
        ops_factory: Any,
        worker_id: str,
        on_caught_up: Callable[[], None] | None = None,
        holdings: Holdings | None = None,
        running: Callable[[], Iterable[RunningJob]] | None = None,
    ) -> None:
        self._ops_factory = ops_factory
        self.on_caught_up = on_caught_up
        self.holdings = holdings if holdings is not None else Holdings()
        self._throttled = False
        self.worker_id = worker_id
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._running = running
        # Bumped after every write, so the burst check can tell "nothing changed".
        self.generation = 0
        self.recorded = 0
        self.dropped = 0
        # Recorded outcomes by queue and name, run times, round trips: the summary and metrics.
        self.stats = WorkerStats()
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

    def written(self, job: Job, transition: Transition) -> None:
        """Account for an outcome written outside the recorder (an atomic job's, in its transaction)."""
        self.holdings.discard((job.id,))
        with self._lock:
            self.recorded += 1
            self.generation += 1
        self.stats.observe_round([(job.queue, transition.outcome, transition.duration)], 0.0)
        # As for a batch written here: deferred, and safe to see the same job twice.
        hooks.after_terminal(
            [TerminalJob(job.id, transition.state, job.queue, job.meta or {})], deferred=True
        )

    def stop(self, timeout: float) -> None:
        """Write what is queued, then stop the thread (waits up to ``timeout`` s)."""
        if self._thread.ident is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _next(self) -> Any:
        """Return the next item, or None after START_MARK_DELAY without one (time to write starts)."""
        if self._running is None:
            return self._queue.get()
        try:
            return self._queue.get(timeout=START_MARK_DELAY)
        except queue.Empty:
            return None

    @property
    def alive(self) -> bool:
        """Say whether the recorder thread is running (or was never started)."""
        return self._thread.ident is None or self._thread.is_alive()

    def _run(self) -> None:
        dispatcher_thread.active = True
        ops: DatabaseOps = self._ops_factory()
        try:
            while True:
                batch: list[tuple[Job, Transition]] = []
                try:
                    if self._round(ops, batch):
                        return
                except Exception:
                    # The thread must outlive any bug: outcomes it took and could not
                    # write are handed back, so nothing waits on them forever.
                    logger.exception(
                        "djobs recorder round failed; its %d outcome(s) are handed back", len(batch)
                    )
                    if batch:
                        self._give_back(ops, batch)
                        self._settled(len(batch))
        finally:
            connections.close_all()

    def _round(self, ops: DatabaseOps, batch: list[tuple[Job, Transition]]) -> bool:
        """Take what waits (into ``batch``), write it; return True when asked to stop."""
        get_nowait = self._queue.get_nowait
        item = self._next()
        stopping = False
        for linger in (True, False):
            while item is not None and len(batch) < MAX_BATCH:
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)
                try:
                    item = get_nowait()
                except queue.Empty:
                    item = None
            if item is not None:
                self._queue.put(item)  # over MAX_BATCH: next round
                item = None
            if not linger or stopping or not batch or len(batch) >= LINGER_BELOW:
                break
            # A short linger under load turns one wake-up per job into one
            # per batch; it delays only the outcome's write, never a job.
            time.sleep(LINGER)
            try:
                item = get_nowait()
            except queue.Empty:
                item = None
        if batch:
            self._write(ops, batch, stopping)
            batch.clear()  # written: a later failure must not hand these back
        self._write_starts(ops, stopping)
        return stopping

    def _write_starts(self, ops: DatabaseOps, stopping: bool) -> None:
        """Write the starts of jobs running for START_MARK_DELAY whose start is not written yet."""
        if self._running is None:
            return
        due_before = time.monotonic() - START_MARK_DELAY
        due = [r for r in self._running() if not r.start_written and (stopping or r.started <= due_before)]
        if not due:
            return
        for running in due:
            running.start_written = True
        try:
            # An outcome written meanwhile wins: the mark is fenced on state and attempt.
            ops.job_mark_started(worker_id=self.worker_id, started=[r.job for r in due])
        except Exception as exc:
            # Not fatal: the outcome carries the start too; only a rescue in between
            # would count the attempt as not started.
            connections[ops.alias].close_if_unusable_or_obsolete()
            logger.warning("djobs could not write the start of %d job(s): %s", len(due), exc)

    @property
    def outcomes(self) -> Counter[str]:
        """Recorded outcomes by name (completed, retried, exhausted...), all queues."""
        counts: Counter[str] = Counter()
        for (_queue, outcome), n in self.stats.snapshot().finished.items():
            counts[outcome] += n
        return counts

    def _write(self, ops: DatabaseOps, batch: list[tuple[Job, Transition]], stopping: bool) -> None:
        began = time.monotonic()
        held = self._record(ops, batch, stopping)
        write_seconds = time.monotonic() - began
        terminal = []
        observed = []
        for job, transition in batch:
            recorded = held.get(job.id)
            if recorded is None:
                self.dropped += 1
                logger.warning(
                    "djobs did not record the outcome of job %s (%s): it is no longer held by "
                    "this worker (rescued or released meanwhile)",
                    job.id,
                    transition.outcome,
                    extra={"job_id": job.id, "job_path": job.path, "outcome": transition.outcome},
                )
                continue
            observed.append((job.queue, recorded.outcome, transition.duration))
            if recorded.is_terminal:
                terminal.append(TerminalJob(job.id, recorded.state, job.queue, job.meta or {}))
            if recorded.outcome != COMPLETED:
                _log_outcome(job, recorded)
        self.holdings.discard(job.id for job, _ in batch)
        with self._lock:  # atomic jobs count theirs from their own threads
            self.recorded += len(held)
        self.stats.observe_round(observed, write_seconds)
        # Hooks first: until they have run, the outcomes still count as pending,
        # so a burst run cannot see "nothing left" while a hook is about to
        # enqueue more (a batch's callback).
        hooks.after_terminal(terminal, deferred=True)
        self._settled(len(batch))

    def _settled(self, count: int) -> None:
        """Count ``count`` outcomes as no longer pending; wake producers held back by the backlog."""
        with self._lock:
            self._pending -= count
            self.generation += 1
        if self._throttled and self._pending < MAX_PENDING:
            self._throttled = False
            if self.on_caught_up is not None:
                self.on_caught_up()

    def _record(
        self, ops: DatabaseOps, batch: list[tuple[Job, Transition]], stopping: bool
    ) -> dict[int, Transition]:
        """Write ``batch``; return the transitions that held, by job id."""
        delay = 0.05
        give_up = time.monotonic() + GIVE_UP_AFTER
        for attempt in itertools.count(1):
            try:
                held = ops.job_record_outcomes(worker_id=self.worker_id, outcomes=batch)
                return {job.id: t for job, t in batch if job.id in held}
            except (OperationalError, InterfaceError) as exc:
                # The database is away (restarting, a dropped connection, a lock
                # timeout): try again with backoff, for a bounded time.
                connections[ops.alias].close_if_unusable_or_obsolete()
                logger.warning(
                    "djobs could not record %d outcome(s) (try %d): %s",
                    len(batch),
                    attempt,
                    exc,
                    extra={"djobs_worker": self.worker_id, "error": str(exc)},
                )
                if attempt >= 3 and (stopping or time.monotonic() > give_up):
                    self._give_back(ops, batch)
                    return {}
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except Exception as exc:  # the recorder thread must not die
                # Anything else is about what was sent (a value the database refuses,
                # one the driver cannot bind): the same batch would fail forever.
                # Split it and isolate the outcome at fault.
                connections[ops.alias].close_if_unusable_or_obsolete()
                return self._record_split(ops, batch, exc, stopping)
        raise AssertionError("unreachable")

    def _record_split(
        self, ops: DatabaseOps, batch: list[tuple[Job, Transition]], exc: Exception, stopping: bool
    ) -> dict[int, Transition]:
        if len(batch) > 1:
            middle = len(batch) // 2
            return {
                **self._record(ops, batch[:middle], stopping),
                **self._record(ops, batch[middle:], stopping),
            }
        job, transition = batch[0]
        refused = unstorable(job, transition, exc)
        logger.error(
            "djobs job %s %s: the database refused its outcome (%s): %s; discarded",
            job.id,
            job.path,
            transition.outcome,
            exc,
            extra={"job_id": job.id, "job_path": job.path, "error": str(exc)},
        )
        try:
            held = ops.job_record_outcomes(worker_id=self.worker_id, outcomes=[(job, refused)])
        except Exception:
            connections[ops.alias].close_if_unusable_or_obsolete()
            self._give_back(ops, batch)
            return {}
        return {job.id: refused} if job.id in held else {}

    def _give_back(self, ops: DatabaseOps, batch: list[tuple[Job, Transition]]) -> None:
        # Not recorded: hand the jobs back so they run again.
        jobs = [job for job, _ in batch]
        give_back(
            ops,
            jobs,
            worker_id=self.worker_id,
            reason=GIVE_BACK_REASON,
            holdings=self.holdings,
            deferred=True,
        )


def unstorable(job: Job, transition: Transition, exc: Exception) -> Transition:
    """Return the transition recorded instead of one the database refused: discarded, saying why."""
    now = transition.finished_at or timezone.now()
    entry = error_entry(
        job.attempt,
        now,
        f"OutcomeNotStored: the database refused this job's outcome ({transition.outcome}): {exc}",
        exception="djobs.exceptions.OutcomeNotStored",
        worker_id=job.worker_id,
    )
    return Transition(JobState.DISCARDED, DISCARDED, finished_at=now, error=entry)


def _log_outcome(job: Job, transition: Transition) -> None:
    error = (transition.error or {}).get("error", "")
    level = logging.INFO if transition.outcome in ("snoozed", "cancelled", "interrupted") else logging.WARNING
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


__all__ = ["Recorder", "unstorable"]
