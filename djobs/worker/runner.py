"""The ``runjobs`` process: producers per queue, the recorder, the notifier, and a main loop.

The main thread registers the worker process, runs the maintenance services
on their intervals, enforces job deadlines, replaces threads stuck past their
timeout, watches the queues' event loops for async jobs blocking them, and on
a stop request shuts everything down without losing a job.
The heartbeat has a thread of its own (djobs.worker.heartbeat). ``Runner.run()``
returns an exit status: 0, or ``RESTART`` when replacing stuck threads cannot
help any more and the process should start afresh.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections
from django.utils import timezone

from .. import registry
from ..conf import Settings, get_settings
from ..db import get_ops
from ..durable.progress import request_interrupt, worker_stopping
from ..exceptions import UnknownJobError
from ..flow.state import STATE_PAYLOAD, StateWatch
from ..maintenance.services import default_services
from .atomic import AtomicCompletion, atomic_queues, sqlite_warning
from .burst import BurstEnd
from .giveback import give_back
from .heartbeat import Heartbeat
from .holdings import Holdings
from .notifier import Notifier
from .orphans import OrphanRepair, OrphanRepairConfig
from .producer import STOPPED_REASON, Producer
from .recorder import Recorder
from .recycle import RecyclePolicy, current_rss_mb
from .shutdown import ShutdownSignals
from .timeouts import RunningJob
from .watchdog import Watchdog

if TYPE_CHECKING:
    from ..maintenance.base import Service
    from ..models import Job

logger = logging.getLogger("djobs")

RESTART = 75


def new_worker_id() -> str:
    """Return a worker id: hostname-pid-random, at most 64 characters."""
    return f"{socket.gethostname()[:44]}-{os.getpid()}-{secrets.token_hex(3)}"


class Runner:
    """One ``runjobs`` process serving ``queues`` (name -> concurrency)."""

    def __init__(
        self,
        queues: dict[str, int],
        *,
        burst: bool = False,
        conf: Settings | None = None,
        services: Sequence[Service] | None = None,
        install_signals: bool = True,
        switch_interval: float | None = 0.001,
        recycle: RecyclePolicy | None = None,
    ) -> None:
        self.conf = conf or get_settings()
        self.queues = dict(queues)
        self.burst = burst
        self.ops = get_ops()
        self.worker_id = new_worker_id()
        self.hostname = socket.gethostname()
        self._stop = threading.Event()
        self.exit_status = 0
        self.holdings = Holdings()
        self.heartbeat = Heartbeat(
            self.ops,
            worker_id=self.worker_id,
            hostname=self.hostname,
            queues=self.queues,
            interval=self.conf.HEARTBEAT_INTERVAL,
            rescue_after=self.conf.RESCUE_AFTER,
        )
        self.recorder = Recorder(
            lambda: self.ops, self.worker_id, holdings=self.holdings, running=self._running_jobs
        )
        self.recorder.on_caught_up = self._wake_all
        self.producers = {
            name: Producer(
                queue_name=name,
                concurrency=concurrency,
                ops=self.ops,
                worker_id=self.worker_id,
                recorder=self.recorder,
                poll_interval=self.conf.POLL_INTERVAL,
                timeout_of=_timeout_of,
                heartbeat=self.heartbeat,
                holdings=self.holdings,
            )
            for name, concurrency in self.queues.items()
        }
        completion = AtomicCompletion(self.ops, self.worker_id, self.recorder, self.heartbeat)
        for producer in self.producers.values():
            producer.completion = completion
        self.services = list(
            services
            if services is not None
            else [
                *default_services(self.conf, on_staged=self.wake, worker_id=self.worker_id),
                OrphanRepair(
                    self.worker_id, self.holdings, OrphanRepairConfig(interval=self.conf.RESCUE_AFTER)
                ),
            ]
        )
        # Paused, scaled and limited queues (djobs.flow): read at start, every poll, and on NOTIFY.
        self.flow = StateWatch(self.ops, self.conf.QUEUE_FLOW, self.queues, self.conf.POLL_INTERVAL)
        self.notifier: Notifier | None = None
        if self.ops.supports_listen:
            self.notifier = Notifier(
                self.ops, self._wake_one, self._wake_all, retry_interval=self.conf.POLL_INTERVAL
            )
        self.signals = ShutdownSignals(self.request_stop) if install_signals else None
        self._switch_interval = switch_interval
        self.burst_end = BurstEnd(self.ops, self.recorder, lambda: self.producers.values(), self._wake_all)
        self.watchdog = Watchdog(
            lambda: self.producers, self.recorder, lambda: self.heartbeat.alive, self.worker_id
        )
        self.recycle = recycle or RecyclePolicy()
        #: Why this process is being recycled (``--max-jobs``/``--max-memory``), once it is.
        self.recycling: str | None = None
        #: Jobs handed back to other workers (unstarted at a stop or recycle, running past the grace).
        self.released = 0
        self._recycle_checked = 0.0

    def _running_jobs(self) -> list[RunningJob]:
        return [r for producer in self.producers.values() for r in list(producer.running.values())]

    # -- control ---------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the loop to stop gracefully (what the first SIGTERM does)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        """Whether a stop was asked for (a signal), as opposed to a burst's end or a recycle."""
        return self._stop.is_set()

    def wake(self, queues: Iterable[str]) -> None:
        for name in queues:
            self._wake_one(name)

    def _wake_one(self, name: str) -> None:
        if name == STATE_PAYLOAD:
            self.flow.announce()
            return
        producer = self.producers.get(name)
        if producer is not None:
            producer.wake()

    def _wake_all(self) -> None:
        for producer in self.producers.values():
            producer.wake()

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until stopped (or, with ``burst``, until nothing is runnable)."""
        previous_switch = sys.getswitchinterval()
        if self._switch_interval:
            # Short GIL slices: a woken producer or job thread gets to run within
            # about a millisecond instead of up to 5 ms.
            sys.setswitchinterval(self._switch_interval)
        if self.signals is not None:
            self.signals.install()
        try:
            self._start()
            self._loop()
        finally:
            self._shutdown()
            if self.signals is not None:
                self.signals.restore()
            sys.setswitchinterval(previous_switch)
        return self.exit_status

    def _start(self) -> None:
        self.ops.worker_register(
            worker_id=self.worker_id,
            hostname=self.hostname,
            pid=os.getpid(),
            queues=self.queues,
            now=timezone.now(),
        )
        logger.info(
            "djobs worker %s started: %s%s",
            self.worker_id,
            ", ".join(f"{q}={c}" for q, c in self.queues.items()),
            " (burst)" if self.burst else "",
            extra={"djobs_worker": self.worker_id, "queues": self.queues, "burst": self.burst},
        )
        warning = self.ops.single_writer and sqlite_warning(
            atomic_queues(self.conf.DEFAULT_QUEUE), self.queues
        )
        if warning:
            logger.warning(warning, extra={"djobs_worker": self.worker_id})
        self.flow.refresh(self.producers)
        self.heartbeat.start()
        self.recorder.start()
        if self.notifier is not None:
            self.notifier.start()
        for producer in self.producers.values():
            producer.start()

    def _loop(self) -> None:
        tick = 0.01 if self.burst else 0.05
        next_run = {id(service): 0.0 for service in self.services}
        while not self._stop.is_set():
            now = time.monotonic()
            self.watchdog.tick(now)
            self._flow_tick(now)
            if not self.watchdog.replace_stuck(now) or not self.watchdog.threads_alive():
                self.exit_status = RESTART
                return
            for service in self.services:
                if self.burst and not service.in_burst:
                    continue
                if now >= next_run[id(service)]:
                    self._run_service(service)
                    next_run[id(service)] = time.monotonic() + service.interval
            if self.burst and self.burst_end.done():
                return
            if self.recycle.active and self._recycled(now):
                return
            self._stop.wait(tick)

    def _flow_tick(self, now: float) -> None:
        try:
            self.flow.tick(now, self.producers)
        except DatabaseError as exc:
            connections[self.ops.alias].close_if_unusable_or_obsolete()
            logger.warning("djobs could not read the queue states: %s", exc, extra={"error": str(exc)})

    def _recycled(self, now: float) -> bool:
        """Check the recycle limits; True once the process may exit."""
        if self.recycling is None:
            # The count is checked every tick; the memory (a /proc read) once a second.
            rss = None
            if now - self._recycle_checked >= 1.0:
                self._recycle_checked = now
                rss = current_rss_mb()
            reason = self.recycle.reason(self.recorder.recorded, rss)
            if reason is None:
                return False
            self.recycling = reason
            logger.info(
                "djobs worker %s recycles: %s; finishing its running jobs first",
                self.worker_id,
                reason,
                extra={"djobs_worker": self.worker_id, "reason": reason},
            )
            for producer in self.producers.values():
                producer.stop_claiming()
            unstarted = [job for p in self.producers.values() for job in p.take_unstarted()]
            self._release(unstarted, STOPPED_REASON)
        # Running jobs finish (their deadlines still apply); nothing is released.
        return not any(p.busy() for p in self.producers.values())

    def _run_service(self, service: Service) -> None:
        try:
            result = service.run_once()
        except Exception as exc:
            connections[self.ops.alias].close_if_unusable_or_obsolete()
            logger.exception(
                "djobs service %s failed: %s",
                service.name,
                exc,
                extra={"service": service.name, "error": str(exc)},
            )
            return
        if result and service.log_rounds:
            logger.info(
                "djobs %s: %s",
                service.name,
                result.counts,
                extra={"service": service.name, "counts": result.counts},
            )

    # -- shutdown ------------------------------------------------------------------------------

    def _shutdown(self) -> None:
        for producer in self.producers.values():
            producer.stop_claiming()
        # Jobs inside ctx.each / ctx.checkpoint stop at their next safe point, their
        # progress saved, and go back to available at once (djobs.durable); a job taken
        # just after this list was read is asked by the worker's stopping flag.
        worker_stopping(self.worker_id)
        for running in self._running_jobs():
            request_interrupt(running.job)
        for producer in self.producers.values():
            producer.join(2.0)
        # Claimed but not started: give them back now rather than start them late.
        unstarted = [job for p in self.producers.values() for job in p.take_unstarted()]
        self._release(unstarted, STOPPED_REASON)
        grace_end = time.monotonic() + self.conf.SHUTDOWN_GRACE
        while time.monotonic() < grace_end and any(p.busy() for p in self.producers.values()):
            self.watchdog.tick(time.monotonic())
            time.sleep(0.01)
        self._release_running()
        self.recorder.stop(timeout=30.0)
        # Stopped before the row is deleted: a heartbeat finding it gone would re-register.
        self.heartbeat.stop()
        if self.notifier is not None:
            self.notifier.stop()
        for producer in self.producers.values():
            producer.stop_threads()
        worker_stopping(self.worker_id, stopping=False)
        try:
            self.ops.worker_unregister(worker_id=self.worker_id)
        except DatabaseError as exc:
            logger.warning("djobs could not unregister worker: %s", exc)
        logger.info(
            "djobs worker %s stopped: %d claimed, %d recorded, %d released",
            self.worker_id,
            sum(p.claimed for p in self.producers.values()),
            self.recorder.recorded,
            self.released,
            extra={"djobs_worker": self.worker_id, "released": self.released},
        )
        connections.close_all()

    def _release_running(self) -> list[int]:
        jobs = []
        for producer in self.producers.values():
            for running in list(producer.running.values()):
                with running.lock:
                    if running.done or running.timed_out:
                        continue
                    # Its late result must not be recorded: the row goes back to available.
                    running.timed_out = True
                if running.cancel is not None:
                    running.cancel()  # an async job's task stops at its next await
                jobs.append(running.job)
        return self._release(jobs, "shut down before this attempt finished")

    def _release(self, jobs: list[Job], reason: str) -> list[int]:
        if not jobs:
            return []
        moved = give_back(self.ops, jobs, worker_id=self.worker_id, reason=reason, holdings=self.holdings)
        released = [job.id for job in moved or []]
        self.released += len(released)
        if released:
            logger.warning(
                "djobs released %d job(s) it will not finish; other workers will run them",
                len(released),
                extra={"released": released},
            )
        return released


def _timeout_of(job: Job) -> float | None:
    try:
        return registry.lookup(job.path, job.meta).timeout
    except UnknownJobError:
        return None


def run_burst(queues: dict[str, int] | None = None, **options: Any) -> Runner:
    """Run a burst worker in this thread until nothing is runnable; return the runner."""
    runner = Runner(queues or dict(get_settings().QUEUES), burst=True, install_signals=False, **options)
    runner.run()
    return runner


__all__ = ["RESTART", "Runner", "new_worker_id", "run_burst"]
