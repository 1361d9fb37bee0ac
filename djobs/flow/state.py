"""A worker's view of its queues' runtime state: paused, scaled, limits overridden.

The state lives in ``djobs_queue_state`` (djobs.flow.models.QueueState). A
runner reads the whole table (a few rows) every ``POLL_INTERVAL`` and, on
PostgreSQL, as soon as a NOTIFY with :data:`STATE_PAYLOAD` arrives, so a
change reaches every worker within about a second either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import QueueFlow
from .limits import Limits

#: The NOTIFY payload announcing a queue-state change (on the channel of insert wake-ups).
STATE_PAYLOAD = "*djobs-queue-state*"


@dataclass(frozen=True)
class QueueView:
    """What a producer applies now for one queue."""

    paused: bool
    concurrency: int
    limits: Limits | None


def effective(flow: QueueFlow | None, starting_concurrency: int, row: Mapping[str, Any] | None) -> QueueView:
    """Return a queue's view from its settings, its starting concurrency and its state row.

    The row's fields override the settings where set; a runtime limit of 0
    lifts the configured one.
    """
    row = row or {}
    global_limit = flow.global_limit if flow else None
    rate_allowed = flow.rate_allowed if flow else None
    rate_period = flow.rate_period if flow else None
    if row.get("global_limit") is not None:
        global_limit = row["global_limit"] or None
    if row.get("rate_allowed") is not None:
        rate_allowed = row["rate_allowed"] or None
        rate_period = row.get("rate_period") or rate_period
    if rate_allowed is None or not rate_period:
        rate_allowed = rate_period = None
    limits = None
    if global_limit is not None or rate_allowed is not None:
        limits = Limits(
            global_limit=global_limit,
            rate_allowed=rate_allowed,
            rate_period=rate_period,
            partitioned=bool(flow and flow.partition_by),
        )
    return QueueView(
        paused=bool(row.get("paused")),
        concurrency=row.get("concurrency") or starting_concurrency,
        limits=limits,
    )


class StateWatch:
    """Keeps a runner's producers in step with the queue-state table.

    ``tick`` reads the table every ``interval`` seconds, and at the next tick
    after ``announce`` (a NOTIFY heard); ``refresh`` applies it at once.
    """

    def __init__(
        self, ops: Any, flows: Mapping[str, QueueFlow], starting: Mapping[str, int], interval: float
    ) -> None:
        self.ops = ops
        self.flows = dict(flows)
        self.starting = dict(starting)
        self.interval = interval
        self.next_read = 0.0
        self.reads = 0

    def announce(self) -> None:
        """Read the table at the next tick (a change was announced)."""
        self.next_read = 0.0

    def tick(self, now: float, producers: Mapping[str, Any]) -> None:
        if now >= self.next_read:
            self.next_read = now + self.interval
            self.refresh(producers)

    def views(self) -> dict[str, QueueView]:
        """Return each served queue's view from one read of the table."""
        rows = self.ops.queue_state_list()
        self.reads += 1
        return {
            name: effective(self.flows.get(name), concurrency, rows.get(name))
            for name, concurrency in self.starting.items()
        }

    def refresh(self, producers: Mapping[str, Any]) -> None:
        for name, view in self.views().items():
            producer = producers.get(name)
            if producer is not None:
                producer.apply(view)


__all__ = ["STATE_PAYLOAD", "QueueView", "StateWatch", "effective"]
