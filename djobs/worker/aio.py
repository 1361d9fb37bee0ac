"""One queue's async jobs: tasks on an event loop in a thread of the queue's own.

A producer hands the ``async def`` jobs it claims to its queue's
``AsyncExecutor``; the sync ones keep going to its thread pool. The loop
thread starts with the first async job and runs up to the queue's
concurrency of them at once; the rest wait here, claimed but not started, and
are given back untouched at shutdown like the thread pool's inbox.

Everything else is the thread pool's path: a job claimed before a heartbeat
lapse is re-checked (in a thread: it may wait and query) before it starts,
its start is a ``RunningJob`` the recorder marks, its outcome goes through
the same recorder and fencing, and a deadline or a shutdown cancels its task
(``RunningJob.cancel``) instead of raising in a thread. A coroutine that
blocks the loop is found by ``watch`` (djobs.worker.aio_watch).

Django's async ORM (``acreate``, ``aget``...) in these jobs runs as it does
outside a request: in asgiref's one thread for thread-sensitive work, with
that thread's connection; it is checked (``close_old_connections``) about
once a second, so a dropped connection is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections
from django.utils import timezone

from .. import registry
from ..exceptions import JobInterrupted
from ..transitions import decide, format_traceback
from .aio_watch import LoopWatch
from .executor import Execution, arun_job
from .timeouts import RunningJob, finish

if TYPE_CHECKING:
    from ..models import Job
    from .producer import Producer

logger = logging.getLogger("djobs")

# Seconds between checks of the async ORM thread's connections.
CHECK_CONNECTIONS_EVERY = 1.0


class JobKinds:
    """Tells the async jobs from the sync ones, by path, for a producer's claims."""

    def __init__(self) -> None:
        self._is_async: dict[str, bool] = {}

    def is_async(self, job: Job) -> bool:
        known = self._is_async.get(job.path)
        if known is not None:
            return known
        try:
            is_async = registry.lookup(job.path, job.meta).is_async
        except Exception:  # unknown here: the thread pool fails the job with the reason
            return False
        self._is_async[job.path] = is_async
        return is_async

    def split(self, jobs: list[Job]) -> tuple[list[Job], list[Job]]:
        """Return ``jobs`` as (sync, async), each in claim order."""
        is_async = self.is_async
        known = self._is_async
        for job in jobs:  # the common case, no async job, in one cheap pass
            kind = known.get(job.path)
            if kind or (kind is None and is_async(job)):
                break
        else:
            return jobs, []
        sync: list[Job] = []
        aio: list[Job] = []
        for job in jobs:
            (aio if is_async(job) else sync).append(job)
        return sync, aio


class AsyncExecutor:
    """Runs the async jobs of one producer's queue on an event loop thread."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.limit = producer.concurrency
        self._lock = threading.Lock()
        self._pending: deque[tuple[Job, int]] = deque()
        self.active = 0
        self.stopping = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.thread_id = 0
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._checked_at = 0.0
        self._checking = False
        self.watch = LoopWatch(self)

    # -- from other threads ----------------------------------------------------------

    def submit(self, items: list[tuple[Job, int]]) -> None:
        """Queue claimed jobs (with their heartbeat epoch) to start as slots free up."""
        with self._lock:
            self._pending.extend(items)
        loop = self._ensure_loop()
        # A loop closed at shutdown raises: take_unstarted gives the jobs back.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._fill)

    def take_unstarted(self) -> list[Job]:
        """Remove the jobs no task has started yet and return them; start no more."""
        with self._lock:
            self.stopping = True
            jobs = [job for job, _ in self._pending]
            self._pending.clear()
        return jobs

    @property
    def waiting(self) -> int:
        return len(self._pending)

    @property
    def alive(self) -> bool:
        """Say whether the loop thread runs (or was never needed, or was stopped)."""
        thread = self.thread
        return thread is None or thread.ident is None or self.stopping or thread.is_alive()

    def stop(self, timeout: float = 2.0) -> None:
        """Cancel what still runs (its jobs were released already) and end the loop thread."""
        with self._lock:
            self.stopping = True
        loop, thread = self.loop, self.thread
        if loop is None or thread is None:
            return
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:
            return
        thread.join(timeout)

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            with self._lock:
                if self.thread is None:
                    self.thread = threading.Thread(
                        target=self._serve, name=f"djobs-{self.producer.queue}-loop", daemon=True
                    )
                    self.thread.start()
            self._ready.wait()
        assert self.loop is not None
        return self.loop

    # -- on the loop thread ----------------------------------------------------------

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.thread_id = threading.get_ident()
        self.loop = loop
        self._ready.set()
        try:
            while True:
                try:
                    loop.run_forever()
                    break
                except JobInterrupted:
                    # An interruption meant for a coroutine blocking the loop that
                    # reached the loop itself (the job had just given control back).
                    logger.warning("djobs queue %r: a loop interruption missed its job", self.producer.queue)
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=1.0))
            loop.close()
            connections.close_all()

    def _fill(self) -> None:
        """Start pending jobs while the queue's concurrency allows."""
        loop = self.loop
        assert loop is not None
        while True:
            with self._lock:
                if self.stopping or self.active >= self.limit or not self._pending:
                    return
                job, epoch = self._pending.popleft()
                self.active += 1
            # A fresh context per job: context variables one job sets never reach the next.
            task = loop.create_task(self._run(job, epoch), context=contextvars.Context())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _cancel(self, task: asyncio.Task[None]) -> None:
        loop = self.loop
        if loop is not None:
            # A closed loop raises: the task is gone already.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)

    async def _run(self, job: Job, epoch: int) -> None:
        producer = self.producer
        running: RunningJob | None = None
        frame = None
        try:
            if not producer.start_check.current(epoch):
                # Claimed before a heartbeat lapse: the thread pool's re-check, which
                # waits and queries, so not on the loop.
                loop = asyncio.get_running_loop()
                if not await loop.run_in_executor(None, self._still_ours, job, epoch):
                    return
            timeout = producer.timeout_of(job)
            started = time.monotonic()
            task = asyncio.current_task()
            assert task is not None
            running = RunningJob(
                job,
                self.thread_id,
                started,
                started + timeout if timeout is not None else None,
                cancel=functools.partial(self._cancel, task),
            )
            job.attempted_at = timezone.now()
            frame = sys._getframe()
            self.watch.enter(frame, running)
            producer.running[running.key] = running
            try:
                _, transition = await arun_job(job, round_trip_arguments=False)
            except BaseException as exc:  # a cancellation or interruption outside the job's code
                execution = Execution(exception=exc, traceback=format_traceback(exc))
                transition = decide(job, execution, timezone.now())
            producer.running.pop(running.key, None)
            producer.mean_duration = producer.next_mean(time.monotonic() - started)
            # False when timed out or released meanwhile: that outcome is written already.
            if finish(running):
                producer.recorder.push(job, transition)
        finally:
            if frame is not None:
                self.watch.leave(frame)
            if running is not None:
                producer.running.pop(running.key, None)
            with self._lock:
                if running is None or not running.abandoned:
                    self.active -= 1
            producer.job_ended(running)
            self._fill()
            self._check_connections()

    def _still_ours(self, job: Job, epoch: int) -> bool:
        try:
            return self.producer.start_check.may_start(job, epoch)
        finally:
            connections.close_all()

    def abandon(self, running: RunningJob) -> None:
        """Free the slot of a task that ignores its cancellation (the runner gave up on it)."""
        with self._lock:
            self.active -= 1
        loop = self.loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._fill)

    def _check_connections(self) -> None:
        now = time.monotonic()
        if self._checking or now - self._checked_at < CHECK_CONNECTIONS_EVERY:
            return
        self._checked_at = now
        self._checking = True
        task = asyncio.get_running_loop().create_task(self._close_old_connections())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_old_connections(self) -> None:
        try:
            # In the async ORM's thread, as Django does around each request.
            await sync_to_async(close_old_connections, thread_sensitive=True)()
        except Exception as exc:
            logger.warning("djobs could not check the async ORM's connections: %s", exc)
        finally:
            self._checking = False


__all__ = ["AsyncExecutor"]
