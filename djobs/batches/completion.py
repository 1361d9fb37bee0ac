"""The completion check run after jobs reach a terminal state (a terminal hook, ``djobs.hooks``).

Per call, each batch seen is checked once, however many of its jobs the call
carries: one ``EXISTS`` over the active-jobs index, plus a conditional update
when a job was discarded or cancelled. The full count by state happens once
per batch, by whoever finishes it.

Called from the dispatcher's recorder thread, the check is handed to a thread
of its own (``BatchChecker``): the recorder writes the outcomes of every job,
batched or not, and must not wait on probes. Batches seen while the checker
is busy are merged and checked once in its next round, which still starts
after the commit of every outcome that named them, so the last one is never
missed. Elsewhere (an admin cancel, the rescuer, the testing helpers) the
check runs at once, in the caller's thread.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Iterable

from django.db import connections

from ..hooks import TerminalJob
from . import store
from .tagging import BATCH_KEY

logger = logging.getLogger("djobs")

# Batches whose first discard this process already recorded: later discards skip
# the conditional update. Bounded; forgetting only costs one no-op update.
_discard_seen: set[str] = set()
_DISCARD_SEEN_MAX = 10_000


def batches_seen(jobs: Iterable[TerminalJob]) -> dict[str, bool]:
    """Return each batch id among ``jobs``, mapped to whether one of its jobs was discarded/cancelled."""
    seen: dict[str, bool] = {}
    for job in jobs:
        key = (job.meta or {}).get(BATCH_KEY)
        if key is None:
            continue
        key = str(key)
        seen[key] = seen.get(key, False) or job.state in store.DISCARD_STATES
    return seen


def check_now(seen: dict[str, bool]) -> None:
    """Check each batch of ``seen`` (batch id -> a job of it was discarded) in this thread."""
    for key, discarded in seen.items():
        try:
            _check(key, discarded)
        except Exception:
            # The sweeper (djobs.maintenance.batch_sweeper) finishes it later.
            logger.exception("djobs could not check batch %s", key, extra={"batch_id": key})


def _check(key: str, discarded: bool) -> None:
    if discarded and key not in _discard_seen:
        store.mark_discarded(key)
        if len(_discard_seen) >= _DISCARD_SEEN_MAX:
            _discard_seen.clear()
        _discard_seen.add(key)
    store.finish_if_done(key)


# Seconds without work after which the checker thread closes its connection.
IDLE_CLOSE = 1.0
# Seconds between the starts of two rounds of the checker thread, at least, and at most.
ROUND_INTERVAL = 0.05
MAX_PAUSE = 1.0


class BatchChecker:
    """A thread checking the batches the recorder saw, merging those seen while it was busy."""

    def __init__(self) -> None:
        self._pending: dict[str, bool] = {}
        self._busy = False
        self._close_requested = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, seen: dict[str, bool]) -> None:
        """Queue ``seen`` for the checker thread (started on first use)."""
        with self._changed:
            for key, discarded in seen.items():
                self._pending[key] = self._pending.get(key, False) or discarded
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="djobs-batches", daemon=True)
                self._thread.start()
                atexit.register(self.flush)
            self._changed.notify_all()

    def _run(self) -> None:
        next_round = 0.0
        while True:
            # At most one round per ROUND_INTERVAL, and rounds take at most a tenth
            # of the time (a probe slows down while the batch index is full of the
            # finished jobs' dead entries): batches seen meanwhile are merged, so a
            # batch of 100k jobs costs a few hundred probes, not one per write. The
            # wait never decides anything: every batch queued is still checked after
            # the commit that queued it.
            pause = next_round - time.monotonic()
            if pause > 0:
                with self._changed:
                    self._changed.wait_for(lambda: self._close_requested, pause)
            with self._changed:
                while not self._pending:
                    if self._close_requested or not self._changed.wait(IDLE_CLOSE):
                        # Idle: give the connection back rather than hold it open.
                        connections.close_all()
                        self._close_requested = False
                        self._changed.notify_all()
                        if not self._pending:
                            self._changed.wait()
                work, self._pending = self._pending, {}
                self._busy = True
            started = time.monotonic()
            try:
                check_now(work)
                spent = time.monotonic() - started
                next_round = started + max(ROUND_INTERVAL, min(spent * 10, MAX_PAUSE))
            except Exception:
                logger.exception("djobs batch checks failed")
                connections.close_all()  # a broken connection is not reused; the sweeper retries
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    def has_work(self) -> bool:
        """Say whether batches are waiting to be checked or being checked."""
        with self._changed:
            return bool(self._busy or self._pending)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything queued is checked (up to ``timeout`` s), then close its connection."""
        end = time.monotonic() + timeout
        with self._changed:
            thread = self._thread
            while thread is not None and thread.is_alive() and (self._busy or self._pending):
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(min(remaining, 0.1))
            # Left over only if the thread died or took too long: check here.
            work, self._pending = self._pending, {}
            if thread is not None and thread.is_alive():
                self._close_requested = True
                self._changed.notify_all()
                while self._close_requested and time.monotonic() < end:
                    self._changed.wait(0.1)
        if work:
            check_now(work)


checker = BatchChecker()


def check_batches(jobs: list[TerminalJob]) -> None:
    """Fire the callbacks of the batches that ``jobs`` discarded or finished, each exactly once."""
    seen = batches_seen(jobs)
    if seen:
        check_now(seen)


def check_batches_within(jobs: list[TerminalJob]) -> None:
    """``check_batches`` inside an atomic job's transaction: an error propagates to its savepoint.

    Caught here, a database error would leave PostgreSQL's transaction aborted
    and the job's own completion failing with it.
    """
    for key, discarded in batches_seen(jobs).items():
        _check(key, discarded)


def lock_batches(jobs: list[TerminalJob]) -> None:
    """Lock the batch rows of ``jobs`` in the caller's transaction, before their job rows are written.

    An atomic job's transaction then takes the batch row before its job row, as
    enqueueing into the batch does: two of a batch's jobs ending at once wait for
    each other instead of deadlocking (MySQL's NOT EXISTS locks the rows it reads).
    """
    for key in sorted(batches_seen(jobs)):
        store.lock(key)


def check_batches_later(jobs: list[TerminalJob]) -> None:
    """Hand the batches ``jobs`` touched to the checker thread (for the recorder, which must not wait)."""
    seen = batches_seen(jobs)
    if seen:
        checker.submit(seen)


def flush() -> None:
    """Finish the batch checks the dispatcher handed over (for code that runs a worker in-process)."""
    checker.flush()


def flush_if_pending() -> bool:
    """Finish pending batch checks; say whether there were any (a ``before_idle`` hook)."""
    if not checker.has_work():
        return False
    checker.flush()
    return True


__all__ = [
    "BatchChecker",
    "batches_seen",
    "check_batches",
    "check_batches_later",
    "check_batches_within",
    "check_now",
    "flush",
    "flush_if_pending",
    "lock_batches",
]
