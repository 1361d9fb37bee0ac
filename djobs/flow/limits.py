"""The rules of a limited claim, as pure functions: how many jobs each partition may start now.

A limited claim locks its queue's ``FlowLimit`` row, counts the queue's
executing jobs per partition, reads the database clock, and asks
:func:`plan_claim` what it may take; :func:`choose` then picks from the
runnable jobs in dispatch order, and :func:`record_starts` logs the starts for
the rate limit. Partitions are strings; a queue without ``partition_by`` is
the single partition ``""``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# A start keeps its place in the rate window this much longer than the period:
# the window counts claims, and a claimed job starts a little later. A worker
# starts a rate-limited job only within START_WITHIN of its claim (else it hands
# it back), so no `period` window of starts holds more than `allowed` of them,
# with room to spare for the job's own first lines.
RATE_SLACK = 0.25
START_WITHIN = 0.1
UNLIMITED = 1 << 30


@dataclass(frozen=True)
class Limits:
    """The limits a queue's claims apply now (configured, or overridden at runtime)."""

    global_limit: int | None = None
    rate_allowed: int | None = None
    rate_period: float | None = None
    partitioned: bool = False

    @property
    def window(self) -> float:
        """Seconds a start counts against the rate limit."""
        return (self.rate_period or 0.0) + RATE_SLACK


@dataclass
class ClaimPlan:
    """What one limited claim may take."""

    #: Most jobs the claim may take in all.
    total: int
    #: Partitions that may take nothing now (left out of the pick).
    full: list[str] = field(default_factory=list)
    #: How many jobs each partition seen running or starting may take.
    room: dict[str, int] = field(default_factory=dict)
    #: How many a partition with nothing running and no recent start may take.
    fresh_room: int = UNLIMITED
    #: Seconds until a rate-limited partition may start again (None: not rate-bound).
    retry_in: float | None = None


def recent(starts: Iterable[float], now: float, limits: Limits) -> list[float]:
    """Return the starts still inside the rate window at ``now``."""
    edge = now - limits.window
    return [t for t in starts if t > edge]


def plan_claim(
    limits: Limits,
    executing: Mapping[str, int],
    starts: Mapping[str, Sequence[float]],
    now: float,
    want: int,
) -> ClaimPlan:
    """Return how many jobs a claim wanting ``want`` may take, per partition and in all."""
    fresh = min(
        limits.global_limit if limits.global_limit is not None else UNLIMITED,
        limits.rate_allowed if limits.rate_allowed is not None else UNLIMITED,
    )
    plan = ClaimPlan(total=want, fresh_room=fresh)
    for partition in set(executing) | set(starts):
        room = fresh
        if limits.global_limit is not None:
            room = min(room, limits.global_limit - executing.get(partition, 0))
        if limits.rate_allowed is not None:
            window = sorted(recent(starts.get(partition, ()), now, limits))
            rate_room = limits.rate_allowed - len(window)
            if rate_room <= 0:
                # The oldest starts leave the window first: wait for enough of them.
                opens = window[-limits.rate_allowed] + limits.window - now
                plan.retry_in = opens if plan.retry_in is None else min(plan.retry_in, opens)
            room = min(room, rate_room)
        room = max(room, 0)
        plan.room[partition] = room
        if room == 0:
            plan.full.append(partition)
    if not limits.partitioned:
        plan.total = min(want, plan.room.get("", fresh))
    plan.full.sort()
    return plan


def choose(plan: ClaimPlan, candidates: Iterable[tuple[int, str]]) -> tuple[list[int], dict[str, int]]:
    """Pick ids from ``(id, partition)`` candidates in dispatch order within the plan's room.

    Returns the ids and how many each partition took.
    """
    taken: dict[str, int] = {}
    ids: list[int] = []
    for pk, partition in candidates:
        if len(ids) >= plan.total:
            break
        count = taken.get(partition, 0)
        if count >= plan.room.get(partition, plan.fresh_room):
            continue
        taken[partition] = count + 1
        ids.append(pk)
    return ids, taken


def record_starts(
    starts: Mapping[str, Sequence[float]], taken: Mapping[str, int], now: float, limits: Limits
) -> dict[str, list[float]]:
    """Return the start log after ``taken`` starts at ``now``, without the starts past the window."""
    log: dict[str, list[float]] = {}
    for partition in set(starts) | set(taken):
        kept = recent(starts.get(partition, ()), now, limits) + [now] * taken.get(partition, 0)
        if kept:
            log[partition] = kept
    return log


__all__ = [
    "RATE_SLACK",
    "START_WITHIN",
    "ClaimPlan",
    "Limits",
    "choose",
    "plan_claim",
    "recent",
    "record_starts",
]
