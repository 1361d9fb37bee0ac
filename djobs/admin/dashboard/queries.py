"""What the dashboard shows, read with queries whose cost is bounded on ten million jobs.

Each function is one panel. Counts are exact up to ``EXACT_UP_TO`` rows per
state and the planner's estimate beyond (flagged); queue lag is a skip scan of
the claim index; the chart counts ranges of the finished-jobs index, over a
slice of each minute in a busy hour (flagged). The SQL is in
``djobs.db.admin_reads``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import Min
from django.utils import timezone

from ...conf import get_settings
from ...db.admin_reads import (
    job_count_by_queue_sampled,
    job_count_estimated_by_queue,
    job_count_finished_per_minute,
)
from ...db.estimates import EXACT_UP_TO, estimate_rows
from ...models import Job, PeriodicSchedule, WorkerProcess
from ...states import TERMINAL_STATES, JobState
from ..display import error_line
from ..filters import known_queues

FAILED_STATES = (JobState.DISCARDED, JobState.CANCELLED)


@dataclass
class Cell:
    value: int = 0
    estimated: bool = False


@dataclass
class Counts:
    """Jobs per queue and state; ``estimated`` cells are the planner's figures."""

    queues: list[str]
    states: list[str]
    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)

    def cell(self, queue: str, state: str) -> Cell:
        return self.cells.get(queue, {}).get(state, Cell())

    def total(self, state: str) -> Cell:
        cells = [self.cell(q, state) for q in self.queues]
        return Cell(sum(c.value for c in cells), any(c.estimated for c in cells))

    def rows(self) -> list[tuple[str, list[Cell]]]:
        return [(q, [self.cell(q, s) for s in self.states]) for q in self.queues]


def _jobs() -> Any:
    return Job.objects.using(get_settings().DATABASE)


def counts() -> Counts:
    """Return jobs per queue x state.

    One statement reads at most ``EXACT_UP_TO + 1`` rows of each state (on
    PostgreSQL an index-only range of the state's partial index): a state
    with fewer is counted exactly, per queue. A larger state gets the
    planner's estimate per queue (on PostgreSQL all cells from the column
    statistics in one query), never below the rows already seen.
    """
    states = list(JobState.values)
    alias = _jobs().db
    sampled = job_count_by_queue_sampled(alias, states, EXACT_UP_TO + 1)
    cells: dict[str, dict[str, Cell]] = {}
    large = [state for state in states if sum(sampled[state].values()) > EXACT_UP_TO]
    for state in states:
        if state not in large:
            for queue, n in sampled[state].items():
                cells.setdefault(queue, {})[state] = Cell(n)
    seen = {queue for state in large for queue in sampled[state]}
    queues = sorted(set(known_queues()) | set(cells) | seen)
    estimates = job_count_estimated_by_queue(alias, large, queues) if large else None
    for state in large:
        for queue in queues:
            seen_here = sampled[state].get(queue, 0)
            if estimates is not None:
                cell = Cell(max(estimates[state][queue], seen_here), estimated=True)
            else:
                cell = _large_cell(_jobs().filter(state=state, queue=queue), seen_here)
            if cell.value:
                cells.setdefault(queue, {})[state] = cell
    used = [q for q in queues if any(c.value for c in cells.get(q, {}).values())]
    return Counts(queues=used or queues, states=states, cells=cells)


def _large_cell(queryset: Any, seen: int) -> Cell:
    """Count one queue x state cell of a state holding more than EXACT_UP_TO rows."""
    # The planner's estimate costs a fraction of a millisecond whatever the size;
    # the state's own rows were sampled, so a stale estimate cannot hide a drained state.
    estimate = estimate_rows(queryset.values("pk"))
    if estimate is not None:
        return Cell(max(estimate, seen), estimated=True)
    return Cell(queryset.count())


def queue_lag(available: dict[str, int], now: datetime) -> dict[str, float | None]:
    """Return, per queue, the age in seconds of its oldest available job (None: none waiting)."""
    waiting = _jobs().filter(state=JobState.AVAILABLE).order_by()
    oldest: dict[str, datetime] = {}
    small = [q for q, n in available.items() if 0 < n <= EXACT_UP_TO]
    large = [q for q, n in available.items() if n > EXACT_UP_TO]
    if small:
        oldest.update(waiting.filter(queue__in=small).values_list("queue").annotate(t=Min("scheduled_at")))
    for queue, scheduled_at in _oldest_in_claim_order(waiting, large):
        if queue not in oldest or scheduled_at < oldest[queue]:
            oldest[queue] = scheduled_at
    return {q: max((now - oldest[q]).total_seconds(), 0.0) if q in oldest else None for q in available}


def _oldest_in_claim_order(waiting: Any, queues: list[str]) -> list[tuple[str, datetime]]:
    """Return (queue, oldest scheduled_at) of each (queue, priority, subpriority) group of ``queues``.

    A long backlog: the claim index is ordered by (queue, priority, subpriority,
    scheduled_at), so each group's oldest job is its first entry. The groups
    are found as a skip scan: each round probes, for every (queue, priority)
    still open, the first entry past the subpriority the last round found:
    one index descent per group, however many jobs wait. Plain jobs all have
    subpriority 0, so two rounds.
    """
    found: list[tuple[str, datetime]] = []
    after = {(q, p): -(2**15) for q in queues for p in range(10)}
    compound = connections[_jobs().db].features.supports_slicing_ordering_in_compound
    while after:
        probes = [
            waiting.filter(queue=q, priority=p, subpriority__gt=s)
            .order_by("subpriority", "scheduled_at")
            .values_list("queue", "priority", "subpriority", "scheduled_at")[:1]
            for (q, p), s in after.items()
        ]
        if compound and len(probes) > 1:
            rows = list(probes[0].union(*probes[1:], all=True).order_by())
        else:
            rows = [row for probe in probes for row in probe]
        after = {(q, p): s for q, p, s, _ in rows}
        found += [(q, t) for q, _, _, t in rows]
    return found


# Past this many jobs finished in the hour (about 28 a second), each minute is
# counted over a slice of its seconds: counting index entries costs about
# 0.15 us each, so the chart reads at most about this many, in 15-20 ms.
THROUGHPUT_EXACT_UP_TO = 100_000


def sampled_seconds(estimate: int | None, exact_up_to: int = THROUGHPUT_EXACT_UP_TO) -> tuple[int, int]:
    """Return the (first, last) seconds of each minute to count for an hour of ``estimate`` jobs.

    The whole minute up to ``exact_up_to`` jobs; past it, a slice in the
    middle of the minute (jobs started on the minute by periodic schedules
    finish in its first seconds) sized to read about ``exact_up_to`` rows.
    """
    if estimate is None or estimate <= exact_up_to:
        return (0, 60)
    width = max(1, 60 * exact_up_to // estimate)
    first = (60 - width) // 2
    return (first, first + width)


def throughput(now: datetime, minutes: int = 60) -> list[dict[str, Any]]:
    """Return completed and failed (discarded or cancelled) jobs per minute, oldest first.

    Each bucket says whether its figures are estimates: in a busy hour (past
    ``THROUGHPUT_EXACT_UP_TO`` jobs, by the planner's estimate) each minute is
    counted over a slice of its seconds and scaled up.
    """
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    alias = _jobs().db
    hour = _jobs().filter(state__in=sorted(TERMINAL_STATES), finished_at__gte=start).order_by()
    first, last = sampled_seconds(estimate_rows(hour.values("pk")), THROUGHPUT_EXACT_UP_TO)
    completed, failed = job_count_finished_per_minute(
        alias, [[JobState.COMPLETED], sorted(FAILED_STATES)], start, minutes, (first, last)
    )
    scale = 60 / (last - first)
    return [
        {
            "minute": (start + timedelta(minutes=i)).isoformat(),
            "completed": round(c * scale),
            "failed": round(f * scale),
            "estimated": scale != 1,
        }
        for i, (c, f) in enumerate(zip(completed, failed, strict=True))
    ]


# Up to this many retryable jobs are sorted by their last attempt; past it, by id.
SORTABLE_RETRYABLE = 2000


def recent_failures(limit: int = 10, retryable: int = 0) -> list[dict[str, Any]]:
    """Return the latest discarded jobs and jobs waiting to retry after an error.

    ``retryable`` is how many jobs are retryable (from ``counts()``): no index
    orders them by attempt time, so a long list is taken newest-inserted first.
    """
    columns = (
        "id",
        "path",
        "queue",
        "state",
        "attempt",
        "max_attempts",
        "errors",
        "finished_at",
        "attempted_at",
    )
    discarded = list(_jobs().filter(state=JobState.DISCARDED).order_by("-finished_at").only(*columns)[:limit])
    order = "-attempted_at" if retryable <= SORTABLE_RETRYABLE else "-id"
    retrying = list(_jobs().filter(state=JobState.RETRYABLE).order_by(order).only(*columns)[:limit])
    jobs = sorted(
        discarded + retrying,
        key=lambda j: j.finished_at or j.attempted_at or timezone.now(),
        reverse=True,
    )[:limit]
    return [
        {
            "id": j.pk,
            "path": j.path,
            "queue": j.queue,
            "state": j.state,
            "attempt": f"{j.attempt}/{j.max_attempts}",
            "at": j.finished_at or j.attempted_at,
            "error": error_line(j.errors),
        }
        for j in jobs
    ]


def workers(now: datetime, limit: int = 50) -> list[dict[str, Any]]:
    """Return worker processes, freshest heartbeat first, with whether each is presumed alive."""
    rescue_after = get_settings().RESCUE_AFTER
    rows = WorkerProcess.objects.using(get_settings().DATABASE).order_by("-heartbeat_at")[:limit]
    return [
        {
            "id": w.pk,
            "hostname": w.hostname,
            "pid": w.pid,
            "queues": w.queues,
            "started_at": w.started_at,
            "heartbeat_age": (now - w.heartbeat_at).total_seconds(),
            "alive": (now - w.heartbeat_at).total_seconds() < rescue_after,
        }
        for w in rows
    ]


def next_periodic_runs(limit: int = 10) -> list[PeriodicSchedule]:
    """Return the enabled schedules that run next."""
    return list(
        PeriodicSchedule.objects.using(get_settings().DATABASE)
        .filter(enabled=True, next_run_at__isnull=False)
        .order_by("next_run_at")[:limit]
    )


def snapshot() -> dict[str, Any]:
    """Return every panel of the dashboard."""
    now = timezone.now()
    grid = counts()
    available = {q: grid.cell(q, JobState.AVAILABLE).value for q in grid.queues}
    return {
        "now": now,
        "counts": grid,
        "lag": queue_lag(available, now),
        "throughput": throughput(now),
        "failures": recent_failures(retryable=grid.total(JobState.RETRYABLE).value),
        "workers": workers(now),
        "periodic": next_periodic_runs(),
    }
