"""One queue: claim as many jobs as there are free slots, run them in the queue's threads.

The producer thread sleeps on an event that is set by a NOTIFY for its queue,
by the stager, by a slot freeing up while jobs may be waiting, or by the poll
timer; it never sleeps while its last claim came back full.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import close_old_connections, connections
from django.utils import timezone

from ..db.base import dispatcher_thread
from ..exceptions import JobTimeout
from ..transitions import decide, format_traceback
from .executor import Execution, run_job
from .timeouts import RunningJob, finish

if TYPE_CHECKING:
    from ..db.base import DatabaseOps
    from ..models import Job
    from .recorder import Recorder

logger = logging.getLogger("djobs")

CLAIMERS = 1
# Seconds between looks at the change counter of an idle queue (SQLite).
CHANGE_POLL = 0.005
# Short jobs: claim up to PREFETCH_FACTOR x concurrency so a thread finishing a
# job finds the next one already claimed, and one claim round trip serves many
# jobs. Only while jobs average under PREFETCH_BELOW seconds: a long job held in
# the inbox would wait for a slot while another worker sat idle.
PREFETCH_FACTOR = 3
PREFETCH_BELOW = 0.05
# Weight of the latest job in the running mean of job durations.
DURATION_WEIGHT = 0.1


def claim_capacity(concurrency: int, mean_duration: float) -> int:
    """Return how many jobs a queue may hold claimed: running plus waiting for a thread."""
    return concurrency * PREFETCH_FACTOR if mean_duration < PREFETCH_BELOW else concurrency


def next_mean(mean: float, duration: float) -> float:
    """Return the running mean of job durations after one more job."""
    return mean + DURATION_WEIGHT * (duration - mean)


class Producer:
    """Claims and runs the jobs of one queue with ``concurrency`` threads."""

    def __init__(
        self,
        *,
        queue_name: str,
        concurrency: int,
        ops: DatabaseOps,
        worker_id: str,
        recorder: Recorder,
        poll_interval: float,
        timeout_of: Callable[[Job], float | None],
    ) -> None:
        self.queue = queue_name
        self.concurrency = concurrency
        self.ops = ops
        self.worker_id = worker_id
        self.recorder = recorder
        self.poll_interval = poll_interval
        self._timeout_of = timeout_of
        self.stopping = False
        self.in_flight = 0
        self.claimed = 0
        # Set when the last claim filled every free slot: more may be waiting, so
        # a slot freeing up is worth another claim.
        self.saturated = False
        # monotonic time of the start of the last claim that found nothing while idle.
        self.empty_claim_at: float | None = None
        self.running: dict[int, RunningJob] = {}
        self._lock = threading.Lock()
        self._inbox: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        # Start as if jobs were long: prefetch only once short jobs are seen.
        self.mean_duration = PREFETCH_BELOW
        self.reserved = 0
        self._watch_changes = ops.supports_change_counter
        # One claimer thread per queue; the slot reservation lets more share a
        # queue (CLAIMERS), which only pays off when claims are slow to return.
        self._wakes = [threading.Event() for _ in range(CLAIMERS)]
        self._claimers = [
            threading.Thread(
                target=self._produce,
                args=(wake,),
                name=f"djobs-producer-{queue_name}-{i}",
                daemon=True,
            )
            for i, wake in enumerate(self._wakes)
        ]

    # -- control -------------------------------------------------------------------

    def start(self) -> None:
        for i in range(self.concurrency):
            thread = threading.Thread(target=self._work, name=f"djobs-{self.queue}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        for claimer in self._claimers:
            claimer.start()

    def wake(self) -> None:
        for wake in self._wakes:
            wake.set()

    def stop_claiming(self) -> None:
        self.stopping = True
        self.wake()

    def take_unstarted(self) -> list[Job]:
        """Remove the claimed jobs no thread has started yet, and return them."""
        jobs: list[Job] = []
        while True:
            try:
                job = self._inbox.get_nowait()
            except queue.Empty:
                break
            if job is None:
                continue
            jobs.append(job)
        if jobs:
            with self._lock:
                self.in_flight -= len(jobs)
        return jobs

    def busy(self) -> bool:
        """Say whether a job that has not timed out is still running."""
        return any(not r.timed_out for r in list(self.running.values()))

    def stop_threads(self) -> None:
        """Let idle job threads exit (busy ones finish their job first)."""
        for _ in self._threads:
            self._inbox.put(None)

    def join(self, timeout: float) -> None:
        for claimer in self._claimers:
            if claimer.ident is not None:
                claimer.join(timeout)

    # -- the claim loop ------------------------------------------------------------

    def _reserve(self) -> int:
        """Reserve the free slots for one claim; 0 when claiming now is not worth it."""
        with self._lock:
            capacity = claim_capacity(self.concurrency, self.mean_duration)
            free = capacity - self.in_flight - self.reserved
            if free <= 0 or (self.saturated and free < max(1, capacity // 4) and self.in_flight):
                return 0
            if self.recorder.backlogged:
                # Outcomes are waiting to be written: claim more only once they are,
                # so memory and the rows held by this process stay bounded.
                return 0
            self.reserved += free
            return free

    def _produce(self, wake: threading.Event) -> None:
        delay = 0.05
        dispatcher_thread.active = True
        try:
            while not self.stopping:
                free = self._reserve()
                if not free:
                    wake.wait(self.poll_interval)
                    wake.clear()
                    continue
                wake.clear()
                started = time.monotonic()
                token = 0
                try:
                    if self._watch_changes:
                        token = self.ops.change_counter()
                    jobs = self.ops.job_claim(
                        queue=self.queue, limit=free, worker_id=self.worker_id, now=timezone.now()
                    )
                except Exception as exc:  # keep the queue alive; retry
                    with self._lock:
                        self.reserved -= free
                    connections[self.ops.alias].close_if_unusable_or_obsolete()
                    logger.warning(
                        "djobs could not claim jobs of queue %r: %s",
                        self.queue,
                        exc,
                        extra={"queue": self.queue, "error": str(exc)},
                    )
                    wake.wait(delay)
                    delay = min(delay * 2, self.poll_interval)
                    continue
                delay = 0.05
                with self._lock:
                    self.reserved -= free
                    self.in_flight += len(jobs)
                if self.stopping and jobs:
                    # Claimed while the stop signal arrived: hand them straight back.
                    with self._lock:
                        self.in_flight -= len(jobs)
                    self.ops.job_release(
                        worker_id=self.worker_id, ids=[j.id for j in jobs], now=timezone.now()
                    )
                    break
                self.saturated = len(jobs) == free
                if jobs:
                    self.claimed += len(jobs)
                    put = self._inbox.put
                    for job in jobs:
                        put(job)
                    if self.saturated:
                        continue
                elif self.idle():
                    self.empty_claim_at = started
                if self._watch_changes:
                    self._wait_for_change(wake, token)
                else:
                    wake.wait(self.poll_interval)
        finally:
            connections.close_all()

    def _wait_for_change(self, wake: threading.Event, token: int) -> None:
        """Sleep until woken, the poll interval ends, or another connection commits."""
        end = time.monotonic() + self.poll_interval
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0 or wake.wait(min(CHANGE_POLL, remaining)):
                return
            try:
                if self.ops.change_counter() != token:
                    return
            except Exception:  # a broken connection: the next claim reports it
                return

    def idle(self) -> bool:
        """Say whether no job is claimed, running or being claimed."""
        return self.in_flight == 0 and self.reserved == 0

    # -- the job threads -------------------------------------------------------------

    def _work(self) -> None:
        thread_id = threading.get_ident()
        get = self._inbox.get
        try:
            while True:
                try:
                    job = get()
                    if job is None:
                        return
                    self._run_one(job, thread_id)
                except JobTimeout:
                    # A timeout raised just after its job ended; the job is settled.
                    continue
        finally:
            connections.close_all()

    def _run_one(self, job: Job, thread_id: int) -> None:
        timeout = self._timeout_of(job)
        started = time.monotonic()
        running = RunningJob(job, thread_id, started, started + timeout if timeout is not None else None)
        self.running[thread_id] = running
        try:
            try:
                # Connections are checked after each job (as Django does at the end
                # of a request): a broken or expired one is closed, not reused.
                _, transition = run_job(job, round_trip_arguments=False)
            except BaseException as exc:
                execution = Execution(exception=exc, traceback=format_traceback(exc))
                transition = decide(job, execution, timezone.now())
            del self.running[thread_id]
            self.mean_duration = next_mean(self.mean_duration, time.monotonic() - started)
            still_ours = finish(running)
            close_old_connections()
            if still_ours:
                self.recorder.push(job, transition)
        finally:
            self.running.pop(thread_id, None)
            with self._lock:
                self.in_flight -= 1
            if self.saturated:
                for wake in self._wakes:
                    wake.set()


__all__ = ["Producer"]
