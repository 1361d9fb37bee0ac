"""Finding the async job that blocks its queue's event loop, and getting the loop back.

A coroutine that calls blocking code (``time.sleep``, a sync HTTP client, a
CPU-bound loop) holds the loop: every other async job of the queue waits. The
runner's main loop calls ``LoopWatch.check`` on each tick; it posts a probe to
the loop, and when the probe has waited LOOP_BLOCKED_AFTER seconds it reads
the loop thread's stack to find which job holds it, and logs its name once.

A blocking job past its deadline (or cancelled) cannot see the cancellation of its task (the
loop never runs it), so ``JobTimeout`` is raised in the loop's thread, as for
a thread pool's job: it surfaces when the job's code returns to Python. A job
that blocks the loop LOOP_BLOCK_LIMIT seconds in a row is timed out that way
whatever its own timeout. Code blocked in C for good (a read with no timeout)
is out of reach, as it is for threads.
"""

from __future__ import annotations

import logging
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING

from .timeouts import RunningJob, raise_in_thread

if TYPE_CHECKING:
    from .aio import AsyncExecutor

logger = logging.getLogger("djobs")

# Seconds a probe may wait on the loop before the job blocking it is looked for and named.
LOOP_BLOCKED_AFTER = 1.0
# Seconds of blocking the loop in a row after which a job is timed out and interrupted.
LOOP_BLOCK_LIMIT = 30.0


class LoopWatch:
    """Probes one queue's loop; names and interrupts the job blocking it."""

    def __init__(self, executor: AsyncExecutor) -> None:
        self.executor = executor
        # id(frame of the job's task coroutine) -> the job, while it runs.
        self._frames: dict[int, RunningJob] = {}
        self._probe_sent: float | None = None
        self._named: set[int] = set()
        self._interrupted: set[int] = set()

    def enter(self, frame: FrameType, running: RunningJob) -> None:
        self._frames[id(frame)] = running

    def leave(self, frame: FrameType) -> None:
        running = self._frames.pop(id(frame), None)
        if running is not None:
            self._named.discard(running.job.id)
            self._interrupted.discard(running.job.id)

    def _ack(self) -> None:
        self._probe_sent = None

    def blocker(self) -> RunningJob | None:
        """Return the job whose code the loop thread is running now, if any."""
        frame: FrameType | None = sys._current_frames().get(self.executor.thread_id)
        while frame is not None:
            running = self._frames.get(id(frame))
            if running is not None:
                return running
            frame = frame.f_back
        return None

    def check(self, now: float | None = None) -> RunningJob | None:
        """Probe the loop; return a job to time out for blocking it LOOP_BLOCK_LIMIT seconds.

        Jobs already past their deadline that still block it are interrupted here.
        """
        executor = self.executor
        loop = executor.loop
        if loop is None or executor.thread is None or not executor.thread.is_alive():
            return None
        now = time.monotonic() if now is None else now
        sent = self._probe_sent
        if sent is None:
            self._probe_sent = now
            try:
                loop.call_soon_threadsafe(self._ack)
            except RuntimeError:
                self._probe_sent = None
            return None
        blocked = now - sent
        if blocked < LOOP_BLOCKED_AFTER:
            return None
        running = self.blocker()
        if running is None:
            return None
        job = running.job
        if job.id not in self._named:
            self._named.add(job.id)
            logger.warning(
                "djobs queue %r: async job %s %s has blocked its event loop for %.1fs; the queue's "
                "other async jobs wait. It calls blocking code (time.sleep, a sync client) instead "
                "of awaiting: use the async form, wrap it in sync_to_async, or make it a sync job",
                executor.producer.queue,
                job.id,
                job.path,
                blocked,
                extra={"queue": executor.producer.queue, "job_id": job.id, "job_path": job.path},
            )
        if running.timed_out:
            self.interrupt(running)
            return None
        if blocked >= LOOP_BLOCK_LIMIT:
            return running
        return None

    def interrupt(self, running: RunningJob) -> bool:
        """Raise JobTimeout (JobCancelled if cancelled) in the loop thread if ``running`` still holds it.

        Say whether it did.
        """
        if running.job.id in self._interrupted:
            return False
        with running.lock:
            if running.done or self.blocker() is not running:
                return False
            self._interrupted.add(running.job.id)
            return raise_in_thread(self.executor.thread_id, running.interruption)


__all__ = ["LOOP_BLOCKED_AFTER", "LOOP_BLOCK_LIMIT", "LoopWatch"]
