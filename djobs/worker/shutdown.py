"""SIGTERM/SIGINT: the first asks for a graceful stop, the second exits at once.

Graceful: producers stop claiming, running jobs get ``SHUTDOWN_GRACE`` seconds
to finish (their outcomes are recorded), then the jobs still running are
released: back to ``available`` without using up the attempt, fenced on this
worker, so another process runs them. At once: the process exits with status
1 without releasing anything; its jobs are rescued when its heartbeat goes
stale (``RESCUE_AFTER``).
"""

from __future__ import annotations

import _thread
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

logger = logging.getLogger("djobs")


class ShutdownSignals:
    """Installs the handlers; ``requested`` is set by the first signal."""

    def __init__(self, on_first: Callable[[], None]) -> None:
        self.requested = threading.Event()
        self.on_first = on_first
        self._previous: dict[int, Any] = {}
        #: Set in the handler itself (a plain store): the signal that comes second exits.
        self._seen = False

    def install(self) -> bool:
        """Install the handlers (only possible from the main thread); say whether it did."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._seen:
            say_now(f"djobs got {name} again: exiting now without releasing jobs")
            os._exit(1)
        self._seen = True
        # A handler runs in the main thread between two of its bytecodes, maybe
        # inside Event.wait() with that event's lock held: Event.set() here would
        # wait for itself forever (a worker went on claiming after "got SIGTERM"
        # until it was killed), and a log line could cut into one being written.
        # A thread of its own, started without the threading module's locks,
        # does both.
        _thread.start_new_thread(self._first, (name,))

    def _first(self, name: str) -> None:
        logger.info(
            "djobs got %s: finishing running jobs, send it again to exit at once",
            name,
            extra={"signal": name},
        )
        self.requested.set()
        self.on_first()


def say_now(line: str) -> None:
    """Write ``line`` to stderr from a signal handler (one system call; logging takes locks)."""
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode())


__all__ = ["ShutdownSignals", "say_now"]
