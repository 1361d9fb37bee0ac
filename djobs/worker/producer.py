"""One queue: claim as many jobs as there are free slots, run them in the queue's threads.

Sync jobs go to the queue's thread pool, started one thread at a time as
jobs need them, up to the concurrency; ``async def`` jobs go to the queue's
event loop (djobs.worker.aio), which also runs up to the concurrency of them.

The producer thread sleeps on an event that is set by a NOTIFY for its queue,
by the stager, by a slot freeing up while jobs may be waiting, or by the poll
timer; it never sleeps while its last claim came back full.

A paused queue (djobs.flow) sends no claim at all; a limited one claims
through ``job_claim_limited``, never ahead of its threads, and wakes when a
rate window opens.

It claims nothing while the heartbeat is not fresh, and a job starts only
while the worker can trust that the row is still its own (djobs.worker.startcheck).
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
from ..exceptions import JobInterrupted
from ..flow.limits import START_WITHIN
from ..transitions import decide, format_traceback
from .aio import AsyncExecutor, JobKinds
from .atomic import DEADLINE, settled
from .executor import Execution, run_job
from .giveback import give_back
from .holdings import Holdings
from .startcheck import StartCheck
from .timeouts import RunningJob, finish

if TYPE_CHECKING:
    from ..db.base import DatabaseOps
    from ..flow.limits import Limits
    from ..flow.state import QueueView
    from ..models import Job
    from .atomic import AtomicCompletion
    from .heartbeat import Heartbeat
    from .recorder import Recorder

logger = logging.getLogger("djobs")

CLAIMERS = 1
# Seconds between looks at the change counter of an idle queue (SQLite).
CHANGE_POLL = 0.005
# Short jobs: claim ahead of the free threads so a thread finishing a job finds
# the next one already claimed, and one claim round trip serves many jobs: at
# least PREFETCH_FACTOR x concurrency, and for shorter jobs about as many as the
# threads finish in PREFETCH_WAIT seconds (so none waits in the inbox much
# longer), up to PREFETCH_MAX x concurrency and PREFETCH_JOBS. No-op jobs at
# concurrency 10: 100 per claim instead of 30, a third of the claim round trips,
# where the producer thread was the bottleneck. Only while jobs average under
# PREFETCH_BELOW seconds: a long job held in the inbox would wait for a slot
# while another worker sat idle.
PREFETCH_FACTOR = 3
PREFETCH_MAX = 10
PREFETCH_JOBS = 100
PREFETCH_WAIT = 0.02
PREFETCH_BELOW = 0.05
# Weight of the latest job in the running mean of job durations.
DURATION_WEIGHT = 0.1
STOPPED_REASON = "stopped before starting this job"
PAUSED_REASON = "held this job unstarted when its queue was paused"
# Shortest wait before a limited queue holding running jobs claims again.
LIMITED_RECHECK = 0.002
LATE_REASON = "could not start this rate-limited job soon enough after its claim"


def claim_capacity(concurrency: int, mean_duration: float) -> int:
    """Return how many jobs a queue may hold claimed: running plus waiting for a thread."""
    if mean_duration >= PREFETCH_BELOW:
        return concurrency
    finished_meanwhile = concurrency * (1 + PREFETCH_WAIT / max(mean_duration, 1e-6))
    ahead = min(finished_meanwhile, concurrency * PREFETCH_MAX, PREFETCH_JOBS)
    return int(max(concurrency * PREFETCH_FACTOR, ahead))


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
        heartbeat: Heartbeat,
        holdings: Holdings,
    ) -> None:
        self.queue = queue_name
        self.concurrency = concurrency
        self.ops = ops
        self.worker_id = worker_id
        self.recorder = recorder
        self.poll_interval = poll_interval
        self._timeout_of = timeout_of
        self.heartbeat = heartbeat
        self.holdings = holdings
        self.start_check = StartCheck(
            ops=ops,
            worker_id=worker_id,
            heartbeat=heartbeat,
            holdings=holdings,
            poll_interval=poll_interval,
            stopping=lambda: self.stopping,
            give_back=lambda job: self.give_back([job], STOPPED_REASON),
        )
        # Threads given up on (stuck past their timeout) that have not ended yet.
        self.abandoned: set[int] = set()
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
        # Claimed jobs with the heartbeat epoch they were claimed in; None stops a thread.
        self._inbox: queue.SimpleQueue[tuple[Job, int] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        # Sync jobs handed to the inbox and not yet ended: threads are started up to this.
        self._sync_busy = 0
        self.aio: AsyncExecutor | None = None
        #: Set by the runner: atomic jobs write their completion with it, in their transaction.
        self.completion: AtomicCompletion | None = None
        self._kinds = JobKinds()
        # Start as if jobs were long: prefetch only once short jobs are seen.
        self.mean_duration = PREFETCH_BELOW
        self.reserved = 0
        #: Set by the queue's state (djobs.flow.state): no claims while paused.
        self.paused = False
        #: The limits claims apply (None: the plain claim).
        self.limits: Limits | None = None
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
        # Job threads start as sync jobs need them (_ensure_threads): a queue of
        # async jobs with a concurrency of 500 must not hold 500 idle threads.
        for claimer in self._claimers:
            claimer.start()

    def timeout_of(self, job: Job) -> float | None:
        return self._timeout_of(job)

    def next_mean(self, duration: float) -> float:
        return next_mean(self.mean_duration, duration)

    def _ensure_threads(self) -> None:
        want = min(self.concurrency, self._sync_busy)
        while len(self._threads) - len(self.abandoned) < want:
            self._start_thread()

    def _dispatch(self, jobs: list[Job], epoch: int) -> None:
        """Hand claimed jobs to the thread pool (sync) or the event loop (async)."""
        sync_jobs, async_jobs = self._kinds.split(jobs)
        if sync_jobs:
            with self._lock:
                self._sync_busy += len(sync_jobs)
            put = self._inbox.put
            for job in sync_jobs:
                put((job, epoch))
            self._ensure_threads()
        if async_jobs:
            if self.aio is None:
                self.aio = AsyncExecutor(self)
            self.aio.submit([(job, epoch) for job in async_jobs])

    def job_ended(self, running: RunningJob | None) -> None:
        """Free the slot of a job that ended, was dropped or gave up; wake the claimer if it waits."""
        with self._lock:
            if running is None or not running.abandoned:  # a replaced job's slot was freed already
                self.in_flight -= 1
        if self.saturated:
            for wake in self._wakes:
                wake.set()

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"djobs-{self.queue}-{len(self._threads)}", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def replace(self, running: RunningJob) -> None:
        """Give up on a thread stuck in a job past its timeout: a new thread takes its slot.

        An async job ignoring its cancellation holds no thread: its slot is freed.
        """
        with self._lock:
            if running.abandoned:
                return
            running.abandoned = True
            self.in_flight -= 1
            if running.cancel is None:
                self.abandoned.add(running.thread_id)
                self._sync_busy -= 1
        if running.cancel is not None:
            if self.aio is not None:
                self.aio.abandon(running)
        else:
            self._ensure_threads()
        self.wake()

    def apply(self, view: QueueView) -> None:
        """Apply the queue's runtime state: pause (handing back unstarted jobs), resume, scale, limits."""
        self.limits = view.limits
        resized = view.concurrency != self.concurrency
        self.concurrency = view.concurrency
        if view.paused and not self.paused:
            self.paused = True
            unstarted = self.take_unstarted()
            if unstarted:
                self.give_back(unstarted, PAUSED_REASON)
        elif not view.paused and self.paused:
            self.paused = False
            self.wake()
        elif resized:
            self.wake()

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
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            if item is None:
                continue
            jobs.append(item[0])
        with self._lock:
            self._sync_busy -= len(jobs)
        if self.aio is not None:
            jobs += self.aio.take_unstarted()
        if jobs:
            with self._lock:
                self.in_flight -= len(jobs)
        return jobs

    def busy(self) -> bool:
        """Say whether a job that has not timed out is still running."""
        return any(not r.timed_out for r in list(self.running.values()))

    def stop_threads(self) -> None:
        """Let idle job threads exit (busy ones finish their job first); end the event loop."""
        for _ in range(len(self._threads) - len(self.abandoned)):
            self._inbox.put(None)
        if self.aio is not None:
            self.aio.stop()

    def join(self, timeout: float) -> None:
        for claimer in self._claimers:
            if claimer.ident is not None:
                claimer.join(timeout)

    # -- the claim loop ------------------------------------------------------------

    def _reserve(self) -> int:
        """Reserve the free slots for one claim; 0 when claiming now is not worth it."""
        with self._lock:
            # A limited queue claims no more than it can start: a job held for a
            # thread would take a slot of the global limit from another worker.
            if self.limits is not None:
                capacity = self.concurrency
            else:
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
                if not self.heartbeat.fresh():
                    # Our registry row may be gone: a claim now could be rescued as
                    # soon as it is made. Claim again once a heartbeat lands.
                    self.heartbeat.wait_fresh(self.poll_interval)
                    continue
                if self.paused:
                    if self.idle():  # a burst run ends without the paused queue's jobs
                        self.empty_claim_at = time.monotonic()
                    wake.wait(self.poll_interval)
                    wake.clear()
                    continue
                free = self._reserve()
                if not free:
                    wake.wait(self.poll_interval)
                    wake.clear()
                    continue
                wake.clear()
                started = time.monotonic()
                token = 0
                epoch = self.heartbeat.epoch
                limits = self.limits
                retry_in = None
                try:
                    if self._watch_changes:
                        token = self.ops.change_counter()
                    if limits is None:
                        jobs = self.ops.job_claim(
                            queue=self.queue, limit=free, worker_id=self.worker_id, now=timezone.now()
                        )
                    else:
                        jobs, retry_in = self.ops.job_claim_limited(
                            queue=self.queue,
                            limit=free,
                            worker_id=self.worker_id,
                            now=timezone.now(),
                            limits=limits,
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
                self.holdings.add(job.id for job in jobs)
                with self._lock:
                    self.reserved -= free
                    self.in_flight += len(jobs)
                if self.stopping and jobs:
                    # Claimed while the stop signal arrived: hand them straight back.
                    with self._lock:
                        self.in_flight -= len(jobs)
                    self.give_back(jobs, STOPPED_REASON)
                    break
                self.saturated = len(jobs) == free
                if jobs:
                    self.claimed += len(jobs)
                    if limits is not None and limits.rate_allowed is not None:
                        deadline = started + START_WITHIN
                        for job in jobs:
                            job._djobs_start_by = deadline  # type: ignore[attr-defined]
                    self._dispatch(jobs, epoch)
                    if self.saturated:
                        continue
                elif self.idle() and retry_in is None:  # a burst waits for a rate window to open
                    self.empty_claim_at = started
                if retry_in is not None and retry_in < self.poll_interval:
                    # A rate window opens before the next poll: claim again then.
                    wake.wait(max(retry_in, 0.001))
                    continue
                if limits is not None and self.in_flight:
                    # Held back by a global limit while jobs run: a slot frees when some
                    # job's outcome is written, here or elsewhere. Look again after about
                    # half a job (short jobs: a few ms; long ones: up to the poll interval).
                    wake.wait(min(self.poll_interval, max(LIMITED_RECHECK, self.mean_duration / 2)))
                    continue
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

    def give_back(self, jobs: list[Job], reason: str) -> None:
        """Hand claimed jobs back to the database (fenced); they leave this process's holdings."""
        give_back(self.ops, jobs, worker_id=self.worker_id, reason=reason, holdings=self.holdings)

    def _work(self) -> None:
        thread_id = threading.get_ident()
        get = self._inbox.get
        try:
            while thread_id not in self.abandoned:
                try:
                    item = get()
                    if item is None:
                        return
                    self._run_one(*item, thread_id)
                except JobInterrupted:
                    # A timeout or cancellation raised just after its job ended; the job is settled.
                    continue
        finally:
            self.abandoned.discard(thread_id)
            connections.close_all()

    def _run_one(self, job: Job, epoch: int, thread_id: int) -> None:
        start_by = None if self.limits is None else job.__dict__.get("_djobs_start_by")
        if start_by is not None and time.monotonic() > start_by:
            # Its start was counted at the claim: starting now could put more than the
            # rate limit's `allowed` starts in one period. Back to the queue.
            with self._lock:
                self.in_flight -= 1
                self._sync_busy -= 1
            self.give_back([job], LATE_REASON)
            return
        if not self.start_check.may_start(job, epoch):
            with self._lock:
                self.in_flight -= 1
                self._sync_busy -= 1
            return
        timeout = self._timeout_of(job)
        started = time.monotonic()
        running = RunningJob(job, thread_id, started, started + timeout if timeout is not None else None)
        job.__dict__[DEADLINE] = running.deadline  # an atomic job's lock waits end there
        job.attempted_at = timezone.now()
        self.running[thread_id] = running
        try:
            try:
                # Connections are checked after each job (as Django does at the end
                # of a request): a broken or expired one is closed, not reused.
                _, transition = run_job(job, round_trip_arguments=False, completion=self.completion)
            except BaseException as exc:
                execution = Execution(exception=exc, traceback=format_traceback(exc))
                transition = decide(job, execution, timezone.now())
            del self.running[thread_id]
            self.mean_duration = next_mean(self.mean_duration, time.monotonic() - started)
            still_ours = finish(running)
            close_old_connections()
            if still_ours and not settled(job):  # an atomic job's completion is written already
                self.recorder.push(job, transition)
        finally:
            self.running.pop(thread_id, None)
            with self._lock:
                if not running.abandoned:  # a replaced thread's slot was freed already
                    self.in_flight -= 1
                    self._sync_busy -= 1
            if self.saturated:
                for wake in self._wakes:
                    wake.set()


__all__ = ["Producer"]
