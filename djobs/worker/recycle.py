"""``--max-jobs`` / ``--max-memory``: replace a worker process before it grows or leaks.

Celery's ``--max-tasks-per-child`` and ``--max-memory-per-child`` stop a
child between tasks. Here, once a limit is reached, the worker stops
claiming, gives back what it claimed but has not started (no attempt used),
lets every running job finish (bounded by the jobs' own timeouts, not by
SHUTDOWN_GRACE: nothing is released and run again), then exits; ``runjobs``
re-executes itself, or the ``--processes`` supervisor starts a new child.
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import dataclass

#: Exit status of a recycled worker process under a supervisor (it starts another).
RECYCLE = 76

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class RecyclePolicy:
    """When a worker process is due for replacement; ``None`` limits are off."""

    max_jobs: int | None = None
    max_memory_mb: float | None = None

    @property
    def active(self) -> bool:
        return self.max_jobs is not None or self.max_memory_mb is not None

    def reason(self, finished: int, rss_mb: float | None) -> str | None:
        """Say why the process is due, or None (pure)."""
        if self.max_jobs is not None and finished >= self.max_jobs:
            return f"{finished} jobs finished (--max-jobs {self.max_jobs})"
        if self.max_memory_mb is not None and rss_mb is not None and rss_mb >= self.max_memory_mb:
            return f"resident memory {rss_mb:.0f} MB (--max-memory {self.max_memory_mb:g})"
        return None


def current_rss_mb() -> float:
    """Return this process's resident set size now (Linux), else its peak, in MB."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE / 1e6
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1e6 if sys.platform == "darwin" else peak / 1e3


__all__ = ["RECYCLE", "RecyclePolicy", "current_rss_mb"]
