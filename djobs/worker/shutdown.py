"""SIGTERM/SIGINT: the first asks for a graceful stop, the second exits at once.

Graceful: producers stop claiming, running jobs get ``SHUTDOWN_GRACE`` seconds
to finish (their outcomes are recorded), then the jobs still running are
released: back to ``available`` without using up the attempt, fenced on this
worker, so another process runs them. At once: the process exits with status
1 without releasing anything; its jobs are rescued when its heartbeat goes
stale (``RESCUE_AFTER``).
"""

from __future__ import annotations

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
        if self.requested.is_set():
            logger.warning("djobs got %s again: exiting now without releasing jobs", name)
            os._exit(1)
        logger.info(
            "djobs got %s: finishing running jobs, send it again to exit at once",
            name,
            extra={"signal": name},
        )
        self.requested.set()
        self.on_first()


__all__ = ["ShutdownSignals"]
