"""The heartbeat: a thread of its own that keeps this process's registry row fresh.

It has its own connection and waits on nothing else (not maintenance, not the
recorder), so a long prune or a backlog of outcomes never makes a live
worker look dead. It also tells the rest of the process whether it may still
trust what it holds:

- ``fresh()``: the last heartbeat that reached the database started less than
  ``trust_for`` seconds ago (a fraction of RESCUE_AFTER). Rescuers presume a
  worker dead only after watching its heartbeat stand still for RESCUE_AFTER,
  so while ``fresh()`` nobody can have rescued this process's jobs.
- ``epoch``: bumped whenever a heartbeat lands after a lapse (a pause, a
  network split, a deleted row). A job claimed in an earlier epoch may have
  been rescued meanwhile: it is started only after checking that the row is
  still held (:meth:`djobs.worker.producer.Producer`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING

from django.db import connections
from django.utils import timezone

if TYPE_CHECKING:
    from ..db.base import DatabaseOps
    from ..durable.progress import PendingSaves

logger = logging.getLogger("djobs")

# Trust what this process holds for this fraction of RESCUE_AFTER after a heartbeat.
TRUST_FRACTION = 0.5


def progress_saves() -> PendingSaves:
    from ..durable.progress import SAVES

    return SAVES


class Heartbeat:
    """Beats every ``interval`` seconds in its own thread; ``fresh()`` and ``epoch`` say what it saw."""

    def __init__(
        self,
        ops: DatabaseOps,
        *,
        worker_id: str,
        hostname: str,
        queues: dict[str, int],
        interval: float,
        rescue_after: float,
    ) -> None:
        self.ops = ops
        self.worker_id = worker_id
        self.hostname = hostname
        self.queues = queues
        self.interval = interval
        self.trust_for = rescue_after * TRUST_FRACTION
        self.epoch = 0
        self.beats = 0
        # monotonic start of the last heartbeat statement that succeeded.
        self.last_ok = time.monotonic()
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="djobs-heartbeat", daemon=True)
        # Progress writes wait on row locks and on the database like any write: in a thread
        # (and on a connection) of their own, they never delay a beat.
        self._writer = threading.Thread(target=self._write_progress, name="djobs-progress", daemon=True)

    def start(self) -> None:
        """Start beating (registration has just refreshed the row: that counts as a beat)."""
        self.last_ok = time.monotonic()
        self._thread.start()
        self._writer.start()

    def stop(self) -> None:
        self._stop.set()
        saves = progress_saves()
        saves.wake.set()
        saves.due.set()
        for thread in (self._thread, self._writer):
            if thread.ident is not None:
                thread.join(5.0)

    @property
    def alive(self) -> bool:
        """Say whether the heartbeat thread runs (or was not started, or was stopped on purpose)."""
        return self._thread.ident is None or self._stop.is_set() or self._thread.is_alive()

    def fresh(self) -> bool:
        """Say whether the last heartbeat is recent enough that nobody can have rescued our jobs."""
        return time.monotonic() - self.last_ok < self.trust_for

    def wait_fresh(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``fresh()``; return it."""
        end = time.monotonic() + timeout
        with self._changed:
            while not self.fresh():
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.1))
        return True

    def beat(self) -> bool:
        """Write one heartbeat; return whether it reached the database."""
        started = time.monotonic()
        try:
            held = self.ops.worker_heartbeat(
                worker_id=self.worker_id,
                hostname=self.hostname,
                pid=os.getpid(),
                queues=self.queues,
                now=timezone.now(),
            )
        except Exception as exc:  # the database is away: keep trying, never die
            connections[self.ops.alias].close_if_unusable_or_obsolete()
            logger.warning("djobs heartbeat failed: %s", exc, extra={"error": str(exc)})
            return False
        self.note(started, held)
        return True

    def note(self, started: float, held: bool, silent_until: float | None = None) -> None:
        """Account for a heartbeat written at ``started`` (by beat(), or in an atomic job's commit).

        ``silent_until``: when the silence that counts ended, if before ``started``
        (an atomic job's transaction held SQLite's only write lock since then).
        """
        gap = (started if silent_until is None else silent_until) - self.last_ok
        lapsed = gap >= self.trust_for
        with self._changed:
            if lapsed or not held:
                # Jobs claimed before now may have been rescued while we were silent.
                self.epoch += 1
            self.last_ok = max(self.last_ok, started)
            self.beats += 1
            self._changed.notify_all()
        if not held:
            logger.warning(
                "djobs worker %s had been presumed dead (its row was deleted); re-registered, "
                "and it re-checks the jobs it claimed before starting them",
                self.worker_id,
                extra={"djobs_worker": self.worker_id},
            )
        elif lapsed:
            logger.warning(
                "djobs worker %s: no heartbeat reached the database for %.1fs; it re-checks the "
                "jobs it claimed before starting them",
                self.worker_id,
                gap,
                extra={"djobs_worker": self.worker_id},
            )

    def _run(self) -> None:
        # Between beats it also flags the iterations whose time-based checkpoint
        # is due (djobs.durable); the progress they hand over is written by
        # the progress writer thread.
        saves = progress_saves()
        due = time.monotonic() + self.interval
        try:
            while not self._stop.is_set():
                until = min(due, saves.next_deadline() or due)
                saves.wake.wait(max(0.0, until - time.monotonic()))
                saves.wake.clear()
                if self._stop.is_set():
                    break
                try:
                    saves.tick(time.monotonic())
                    if time.monotonic() >= due:
                        due = time.monotonic() + self.interval
                        self.beat()
                except Exception:  # beat() handles database errors; this is any other bug
                    logger.exception("djobs heartbeat failed")
        finally:
            connections.close_all()

    def _write_progress(self) -> None:
        # Woken by a hand-over; a save that failed is tried again a beat interval later.
        saves = progress_saves()
        try:
            while not self._stop.is_set():
                saves.due.wait(self.interval if saves.pending else None)
                if self._stop.is_set():
                    break
                try:
                    saves.write()
                except Exception:  # write() handles database errors; this is any other bug
                    logger.exception("djobs progress writer failed")
        finally:
            connections.close_all()


__all__ = ["TRUST_FRACTION", "Heartbeat"]
