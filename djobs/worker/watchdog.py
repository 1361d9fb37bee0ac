"""The main loop's watch over running jobs and the dispatcher's own threads.

Each tick the runner asks it to expire jobs past their deadline (recording
the attempt as failed with ``JobTimeout``), to stop jobs cancelled while they
run (djobs.worker.cancels), to name async jobs blocking their
queue's event loop, to give a thread stuck past its timeout a replacement,
and whether the recorder, heartbeat and loop threads still run. When a
replacement cannot help any more it says so, and the process restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.utils import timezone

from ..exceptions import JobCancelled, JobTimeout
from ..transitions import decide
from .aio_watch import LOOP_BLOCK_LIMIT
from .cancels import CancelWatch
from .executor import Execution
from .timeouts import RunningJob, expire, timeout_error

if TYPE_CHECKING:
    from .producer import Producer
    from .recorder import Recorder

logger = logging.getLogger("djobs")


class Watchdog:
    """Deadlines, blocked loops and stuck threads of one worker process."""

    #: Seconds a thread may keep running past its job's deadline before it counts as stuck.
    clog_grace = 10.0

    def __init__(
        self,
        producers: Callable[[], dict[str, Producer]],
        recorder: Recorder,
        heartbeat_alive: Callable[[], bool],
        worker_id: str,
    ) -> None:
        self.producers = producers
        self.recorder = recorder
        self.heartbeat_alive = heartbeat_alive
        self.worker_id = worker_id
        self.cancels = CancelWatch(worker_id)

    def tick(self, now: float) -> None:
        """What the runner asks each tick, while serving and during the shutdown grace."""
        self.enforce_deadlines(now)
        self.cancels.check(self.producers().values(), now)
        self.watch_loops(now)

    def enforce_deadlines(self, now: float) -> None:
        for producer in self.producers().values():
            for running in list(producer.running.values()):
                if running.deadline is None or running.deadline > now or running.timed_out:
                    continue
                seconds = running.deadline - running.started
                self.time_out(running, timeout_error(running.job, seconds), seconds, now)

    def time_out(self, running: RunningJob, error: JobTimeout, seconds: float, now: float) -> bool:
        """Expire ``running`` and record its attempt as failed with ``error``; say whether it did."""
        if not expire(running, now):
            return False
        job = running.job
        execution = Execution(exception=error, duration=seconds)
        transition = decide(job, execution, timezone.now())
        logger.warning(
            "djobs job %s %s timed out after %gs; recorded as %s",
            job.id,
            job.path,
            seconds,
            transition.outcome,
            extra={"job_id": job.id, "job_path": job.path, "outcome": transition.outcome},
        )
        self.recorder.push(job, transition)
        return True

    def watch_loops(self, now: float) -> None:
        """Name async jobs blocking their queue's loop; time out those blocking it too long."""
        for producer in self.producers().values():
            if producer.aio is None:
                continue
            watch = producer.aio.watch
            running = watch.check(now)
            if running is None:
                continue
            error = JobTimeout(
                f"{running.job.path} blocked its event loop for {LOOP_BLOCK_LIMIT:g}s (blocking code "
                "in an async def); the attempt is counted as failed and the job interrupted"
            )
            if self.time_out(running, error, now - running.started, now):
                watch.interrupt(running)

    def threads_alive(self) -> bool:
        """Say whether the recorder and heartbeat threads run; log why the process restarts if not."""
        threads = [("recorder", self.recorder.alive), ("heartbeat", self.heartbeat_alive())]
        threads += [
            (f"queue {name!r} event loop", p.aio.alive)
            for name, p in self.producers().items()
            if p.aio is not None
        ]
        for name, alive in threads:
            if not alive:
                logger.critical(
                    "djobs worker %s: its %s thread died; the worker process restarts",
                    self.worker_id,
                    name,
                    extra={"djobs_worker": self.worker_id},
                )
                return False
        return True

    def replace_stuck(self, now: float) -> bool:
        """Give each thread stuck past its timeout a replacement; False when that cannot help.

        A stuck thread keeps running (Python cannot kill it) but no longer holds
        a slot. Once a queue has as many stuck threads as its concurrency, more
        replacements would only pile up threads: the process asks for a restart.
        """
        for producer in self.producers().values():
            stuck = [
                r
                for r in list(producer.running.values())
                if r.timed_out
                and not r.abandoned
                and r.timed_out_at is not None
                and now - r.timed_out_at > self.clog_grace
            ]
            for running in stuck:
                if running.cancel is not None:
                    # A task ignoring its cancellation holds no thread: free its slot.
                    producer.replace(running)
                    logger.error(
                        "djobs queue %r: async job %s %s ignores the cancellation of its task %.0fs "
                        "past its %s; its slot is freed",
                        producer.queue,
                        running.job.id,
                        running.job.path,
                        now - (running.timed_out_at or now),
                        _why(running),
                        extra={"queue": producer.queue, "job_id": running.job.id},
                    )
                    continue
                if len(producer.abandoned) >= producer.concurrency:
                    logger.critical(
                        "djobs queue %r: %d threads are stuck in jobs that ignore their timeout "
                        "(%s), as many as its concurrency; replacing more would only pile up "
                        "threads, so the worker process restarts",
                        producer.queue,
                        len(producer.abandoned) + 1,
                        ", ".join(sorted({r.job.path for r in stuck})),
                        extra={"queue": producer.queue, "stuck": len(producer.abandoned) + 1},
                    )
                    return False
                producer.replace(running)
                logger.error(
                    "djobs queue %r: a thread is stuck in job %s %s %.0fs past its %s; a new "
                    "thread takes its slot",
                    producer.queue,
                    running.job.id,
                    running.job.path,
                    now - (running.timed_out_at or now),
                    _why(running),
                    extra={"queue": producer.queue, "job_id": running.job.id, "job_path": running.job.path},
                )
        return True


def _why(running: RunningJob) -> str:
    return "cancellation" if issubclass(running.interruption, JobCancelled) else "timeout"


__all__ = ["Watchdog"]
