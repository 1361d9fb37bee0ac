"""Releasing a workflow's steps when the steps they wait for end (a terminal hook, ``djobs.hooks``).

In the caller's thread (operators, the rescuer, the testing helpers) the
release runs at once. The dispatcher's recorder must not wait: it hands the
ended steps to a thread of its own, which merges what arrives while it works
into one transaction per round. A release that never ran (the process died
between the outcome and the release) is found by :func:`release_missed`,
which the maintenance service ``WorkflowSweeper`` runs every minute, and that
thread at its first round and then every ``SWEEP_INTERVAL`` while it works.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.db import DatabaseError, connections
from django.utils import timezone

from ..conf import get_settings
from ..db import get_ops
from ..db.workflows import Released
from ..hooks import TerminalJob, hooks
from .store import WORKFLOW_KEY

logger = logging.getLogger("djobs")

#: Seconds between two sweeps for lost releases, while the release thread runs.
SWEEP_INTERVAL = 60.0
#: Seconds since a step ended after which a release it never had counts as missed
#: (finished_at is the recording worker's clock: this also absorbs clock skew).
MISSED_AFTER = 60.0
# Seconds without work after which the thread closes its connection.
IDLE_CLOSE = 1.0
# Tries of one release that hit a deadlock or a serialization failure.
TRIES = 5
# Seconds the release thread waits before trying again steps whose release failed.
RETRY_PAUSE = 1.0


def ended_steps(jobs: Iterable[TerminalJob]) -> list[tuple[int, str]]:
    """Return ``(id, state)`` of the workflow steps among ``jobs``."""
    return [(job.id, job.state) for job in jobs if WORKFLOW_KEY in (job.meta or {})]


def release(ended: Sequence[tuple[int, str]]) -> Released:
    """Release (or cancel) the dependents of ``ended`` steps, once; wake their queues."""
    ops = get_ops()
    for attempt in range(TRIES):
        try:
            result = ops.workflow_release(ended, now=timezone.now())
            break
        except DatabaseError:
            if attempt == TRIES - 1 or ops.connection.in_atomic_block:
                raise
            time.sleep(0.01 * (attempt + 1))
    if result.queues and get_settings().NOTIFY and ops.supports_listen_notify:
        ops.notify_inserted(sorted(result.queues))
    if result.cancelled:
        # Batches and other hooks learn of the cancelled dependents (this hook
        # finds them handled already).
        hooks.after_terminal(
            [TerminalJob(job.id, job.state, job.queue, job.meta) for job in result.cancelled]
        )
    return result


def release_now(jobs: list[TerminalJob]) -> None:
    """Release the dependents of the steps among ``jobs`` in this thread (the hook's ``call``)."""
    ended = ended_steps(jobs)
    if not ended:
        return
    result = release(ended)
    if (result.released or result.scheduled) and get_settings().TESTING == "inline":
        # Inline mode runs a workflow to its end: released steps join the run.
        from ..models import Job
        from ..testing.inline import join_run

        ids = sorted([*result.released, *result.scheduled])
        join_run(list(Job.objects.using(get_ops().alias).filter(pk__in=ids).order_by("pk")))


def release_missed(limit: int = 1000, grace: float = MISSED_AFTER) -> int:
    """Handle steps that ended over ``grace`` seconds ago and were never released; return how many.

    Younger ones may be on their way to a release thread: taking them would
    race it and call them missed when nothing was.
    """
    total = 0
    ops = get_ops()
    ended_before = timezone.now() - timedelta(seconds=grace)
    while True:
        ended = ops.workflow_missed(limit, ended_before=ended_before)
        if not ended:
            return total
        release(ended)
        total += len(ended)
        if len(ended) < limit:
            return total


class Releaser:
    """A thread releasing the steps the recorder saw end, merging those that arrive while it works."""

    def __init__(self) -> None:
        self._pending: dict[int, str] = {}
        self._busy = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._next_sweep = 0.0

    def submit(self, ended: Sequence[tuple[int, str]]) -> None:
        with self._changed:
            self._pending.update(ended)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="djobs-workflows", daemon=True)
                self._thread.start()
                atexit.register(self.flush)
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    if not self._changed.wait(IDLE_CLOSE):
                        connections.close_all()
                        self._changed.wait()
                work, self._pending = self._pending, {}
                self._busy = True
            try:
                release(sorted(work.items()))
                if time.monotonic() >= self._next_sweep:
                    self._next_sweep = time.monotonic() + SWEEP_INTERVAL
                    release_missed()
            except Exception:
                # Released at most once whatever happens, so the same steps are
                # tried again after a pause (and the sweep finds them if this
                # process dies first).
                logger.exception("djobs could not release workflow steps; trying again in %s s", RETRY_PAUSE)
                connections.close_all()
                time.sleep(RETRY_PAUSE)
                with self._changed:
                    for pk, state in work.items():
                        self._pending.setdefault(pk, state)
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    def has_work(self) -> bool:
        with self._changed:
            return bool(self._busy or self._pending)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything submitted is released (up to ``timeout`` s)."""
        end = time.monotonic() + timeout
        with self._changed:
            thread = self._thread
            while thread is not None and thread.is_alive() and (self._busy or self._pending):
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(min(remaining, 0.1))
            work, self._pending = self._pending, {}
        if work:
            release(sorted(work.items()))


releaser = Releaser()


def release_later(jobs: list[TerminalJob]) -> None:
    """Hand the steps among ``jobs`` to the release thread (the hook's ``later``, for the recorder)."""
    ended = ended_steps(jobs)
    if ended:
        releaser.submit(ended)


def flush_if_pending() -> bool:
    """Finish pending releases; say whether there were any (a ``before_idle`` hook)."""
    if not releaser.has_work():
        return False
    releaser.flush()
    return True


__all__ = [
    "Releaser",
    "ended_steps",
    "flush_if_pending",
    "release",
    "release_later",
    "release_missed",
    "release_now",
]
