"""``runjobs --processes N``: N worker processes under one supervisor.

Threads share one interpreter lock, so CPU-bound jobs need processes. The
supervisor runs no jobs and opens no database connection: it starts N
``runjobs`` children (the same command line without ``--processes``),
restarts one that exits or dies, forwards SIGTERM/SIGINT and waits for the
children's own graceful shutdown.

Each child has a process group of its own, so a Ctrl-C in a terminal reaches
only the supervisor, which forwards one SIGTERM (a second signal to a worker
means "exit at once"). Each child also asks the kernel for SIGTERM when its
supervisor dies (Linux ``PR_SET_PDEATHSIG``), so a SIGKILLed supervisor leaves
no worker behind that nothing would restart.

A child that exits with status 0 or :data:`~djobs.worker.runner.RESTART` while
the supervisor is not stopping was recycled (``--max-jobs``, ``--max-memory``,
stuck threads) and is replaced at once; one that crashed is replaced after a
backoff that doubles while children keep dying young, so a broken deploy does
not spin.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from .recycle import RECYCLE
from .shutdown import say_now

logger = logging.getLogger("djobs")

#: A child that lived at least this long resets the crash backoff.
HEALTHY_AFTER = 10.0
MAX_BACKOFF = 30.0
#: Environment variable naming the child's slot (1..N), for logs and metrics.
SLOT_ENV = "DJOBS_WORKER_SLOT"


#: Options of the supervisor's own: its children run without them.
SUPERVISOR_OPTIONS = ("--processes", "--metrics-port")


def child_argv(argv: Sequence[str]) -> list[str]:
    """Return ``argv`` without the supervisor's options (``--processes N``, ``--metrics-port=P``) (pure)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in SUPERVISOR_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{option}=" for option in SUPERVISOR_OPTIONS)):
            out.append(arg)
    return out


def next_backoff(previous: float, lived: float) -> float:
    """Seconds to wait before replacing a crashed child that lived ``lived`` seconds (pure)."""
    if lived >= HEALTHY_AFTER:
        return 0.0
    return min(MAX_BACKOFF, max(0.5, previous * 2))


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    os.setpgrp()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    slot: int
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)


class Supervisor:
    """Keep ``count`` children running ``command`` until asked to stop."""

    def __init__(
        self,
        command: Sequence[str],
        count: int,
        *,
        grace: float,
        env: dict[str, str] | None = None,
        on_start: Callable[[int], None] | None = None,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self.command = list(command)
        self.count = count
        # Children get SHUTDOWN_GRACE to finish jobs and a little more to release and exit.
        self.stop_timeout = grace + 15.0
        self.env = dict(os.environ if env is None else env)
        self.on_start = on_start
        self.on_exit = on_exit
        self.children: dict[int, Child] = {}
        self.stopping = False
        #: The signal that asked for the stop.
        self.stopped_by = ""
        self.restarts = 0
        self._backoff = 0.0
        self._due: list[tuple[float, int]] = []

    def run(self) -> int:
        """Start the children and supervise them until SIGTERM/SIGINT; return the exit status."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in range(1, self.count + 1):
                self._start(slot)
            logger.info(
                "djobs supervisor %d started %d worker processes: %s",
                os.getpid(),
                self.count,
                ", ".join(str(c.process.pid) for c in self.children.values()),
            )
            while not self.stopping:
                self._reap()
                self._start_due()
                time.sleep(0.2)
            logger.info(
                "djobs supervisor got %s: stopping %d workers gracefully", self.stopped_by, len(self.children)
            )
            return self._stop_children()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start(self, slot: int) -> None:
        env = {**self.env, SLOT_ENV: str(slot)}
        process = subprocess.Popen(self.command, env=env, preexec_fn=_die_with_parent)
        self.children[process.pid] = Child(slot, process)
        if self.on_start is not None:
            self.on_start(process.pid)

    def _reap(self) -> None:
        for pid, child in list(self.children.items()):
            status = child.process.poll()
            if status is None:
                continue
            del self.children[pid]
            if self.on_exit is not None:
                self.on_exit(pid)
            if self.stopping:
                continue
            lived, slot = time.monotonic() - child.started, child.slot
            self.restarts += 1
            if _replaced_at_once(status):
                logger.info("djobs worker %d (slot %d) exited to be recycled; starting another", pid, slot)
                delay = 0.0
            else:
                self._backoff = next_backoff(self._backoff, lived)
                delay = self._backoff
                logger.warning(
                    "djobs worker %d (slot %d) died with status %s after %.1f s; starting another in %.1f s",
                    pid,
                    child.slot,
                    _describe(status),
                    lived,
                    delay,
                )
            self._due.append((time.monotonic() + delay, child.slot))

    def _start_due(self) -> None:
        if self.stopping:
            return
        now = time.monotonic()
        for due in [d for d in self._due if d[0] <= now]:
            self._due.remove(due)
            self._start(due[1])

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Plain stores and system calls only: the main loop may be inside a log
        # call this handler interrupts (djobs.worker.shutdown says why).
        name = signal.Signals(signum).name
        if self.stopping:
            say_now(f"djobs supervisor got {name} again: killing its workers")
            for child in self.children.values():
                _send(child.process, signal.SIGKILL)
            return
        self.stopped_by = name  # logged by the main loop, which now leaves its wait
        self.stopping = True

    def _stop_children(self) -> int:
        for child in self.children.values():
            _send(child.process, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        status = 0
        for child in list(self.children.values()):
            try:
                code = child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("djobs worker %d did not stop in time: killing it", child.process.pid)
                _send(child.process, signal.SIGKILL)
                code = child.process.wait()
            if self.on_exit is not None:
                self.on_exit(child.process.pid)
            # -SIGTERM: it had finished and restored the default handler when ours arrived.
            status = status or (0 if _replaced_at_once(code) or code == -signal.SIGTERM else 1)
        self.children.clear()
        return status


def _send(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)


def _replaced_at_once(status: int) -> bool:
    """Say whether a child exiting with ``status`` asked to be replaced (recycled, stuck threads)."""
    from .runner import RESTART

    return status in (0, RESTART, RECYCLE)


def _describe(status: int) -> str:
    if status < 0:
        return signal.Signals(-status).name
    return str(status)


def supervise(argv: Sequence[str], count: int, *, metrics_port: int | None = None) -> int:
    """Run ``count`` children of this ``manage.py runjobs`` command line; return the exit status.

    With ``metrics_port``, the supervisor serves the group's metrics there and
    the children write theirs to a directory of its own (djobs.metrics.worker).
    """
    from ..conf import get_settings

    command = [sys.executable, *child_argv([str(Path(argv[0]).resolve()), *argv[1:]])]
    env = dict(os.environ)
    directory: Path | None = None
    on_start = on_exit = None
    if metrics_port:
        from ..metrics.worker import DIR_ENV, GroupCollector, serve

        directory = Path(tempfile.mkdtemp(prefix="djobs-metrics-"))
        env[DIR_ENV] = str(directory)
        group = GroupCollector(directory)
        on_start, on_exit = group.live.add, group.live.discard
        server = serve(group, metrics_port)
    supervisor = Supervisor(
        command, count, grace=get_settings().SHUTDOWN_GRACE, env=env, on_start=on_start, on_exit=on_exit
    )
    try:
        return supervisor.run()
    finally:
        if directory is not None:
            server.shutdown()
            shutil.rmtree(directory, ignore_errors=True)


__all__ = ["SLOT_ENV", "Supervisor", "child_argv", "next_backoff", "supervise"]
