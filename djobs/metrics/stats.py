"""The worker's own figures, kept by the recorder thread and read at scrape time.

Plain counters under one lock, taken once per recorder round (not per job),
so keeping them costs the dispatcher next to nothing whether or not anything
scrapes them; ``prometheus_client`` is imported only to serve them
(djobs.metrics.worker).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Upper bounds (seconds) of the run-time histogram's buckets; +Inf is implied.
RUN_TIME_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip


@dataclass
class RunTimes:
    """One queue's run-time histogram: counts per bucket (the last is +Inf), their sum."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(RUN_TIME_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(RUN_TIME_BUCKETS, seconds)] += 1
        self.total += seconds

    @property
    def count(self) -> int:
        return sum(self.buckets)


@dataclass
class Snapshot:
    """A consistent copy of the figures at one moment."""

    finished: dict[tuple[str, str], int]
    run_times: dict[str, RunTimes]
    record_rounds: int
    record_seconds: float


class WorkerStats:
    """Outcomes by queue and outcome, run times by queue, and the recorder's round trips."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._finished: Counter[tuple[str, str]] = Counter()
        self._run_times: dict[str, RunTimes] = {}
        self._record_rounds = 0
        self._record_seconds = 0.0

    def observe_round(self, outcomes: Iterable[tuple[str, str, float]], seconds: float) -> None:
        """Count one recorder round: its (queue, outcome, run seconds) and how long its write took."""
        with self._lock:
            self._record_rounds += 1
            self._record_seconds += seconds
            for queue, outcome, run_seconds in outcomes:
                self._finished[queue, outcome] += 1
                times = self._run_times.get(queue)
                if times is None:
                    times = self._run_times[queue] = RunTimes()
                times.observe(run_seconds)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                finished=dict(self._finished),
                run_times={q: RunTimes(list(t.buckets), t.total) for q, t in self._run_times.items()},
                record_rounds=self._record_rounds,
                record_seconds=self._record_seconds,
            )


__all__ = ["RUN_TIME_BUCKETS", "RunTimes", "Snapshot", "WorkerStats"]
