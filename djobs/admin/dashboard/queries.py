"""What the dashboard shows, read with queries that stay cheap on a million jobs.

Each function is one panel. Counts are exact up to ``EXACT_UP_TO`` rows per
cell and the planner's estimate beyond (flagged), queue lag reads the claim
index, throughput reads the finished-jobs index over the last hour only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import Count, Min
from django.db.models.functions import TruncMinute
from django.utils import timezone

from ...conf import get_settings
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
    """Return jobs per queue x state."""
    states = list(JobState.values)
    small: list[str] = []
    large: list[str] = []
    for state in states:
        seen = _jobs().filter(state=state).order_by()[: EXACT_UP_TO + 1].count()
        (small if seen <= EXACT_UP_TO else large).append(state)
    cells: dict[str, dict[str, Cell]] = {}
    if small:
        rows = (
            _jobs().filter(state__in=small).order_by().values_list("queue", "state").annotate(n=Count("id"))
        )
        for queue, state, n in rows:
            cells.setdefault(queue, {})[state] = Cell(n)
    queues = sorted(set(known_queues()) | set(cells))
    for state in large:
        for queue in queues:
            cell = _large_cell(_jobs().filter(state=state, queue=queue))
            if cell.value:
                cells.setdefault(queue, {})[state] = cell
    used = [q for q in queues if any(c.value for c in cells.get(q, {}).values())]
    return Counts(queues=used or queues, states=states, cells=cells)


def _large_cell(queryset: Any) -> Cell:
    """Count one queue x state cell of a state holding more than EXACT_UP_TO rows."""
    # The planner's estimate costs a fraction of a millisecond whatever the size;
    # the state's own total was counted, so a stale estimate cannot hide a drained state.
    estimate = estimate_rows(queryset)
    if estimate is not None:
        return Cell(estimate, estimated=True)
    return Cell(queryset.count())


def queue_lag(available: dict[str, int], now: datetime) -> dict[str, float | None]:
    """Return, per queue, the age in seconds of its oldest available job (None: none waiting)."""
    waiting = _jobs().filter(state=JobState.AVAILABLE).order_by()
    oldest: dict[str, datetime] = {}
    small = [q for q, n in available.items() if 0 < n <= EXACT_UP_TO]
    large = [q for q, n in available.items() if n > EXACT_UP_TO]
    if small:
        oldest.update(waiting.filter(queue__in=small).values_list("queue").annotate(t=Min("scheduled_at")))
    if large:
        # A long backlog: the claim index is ordered by (queue, priority, scheduled_at),
        # so the oldest job is the first entry of one of ten (queue, priority) ranges.
        probes = [
            waiting.filter(queue=q, priority=p)
            .order_by("scheduled_at")
            .values_list("queue", "scheduled_at")[:1]
            for q in large
            for p in range(10)
        ]
        if _jobs().db and connections[_jobs().db].features.supports_slicing_ordering_in_compound:
            rows = list(probes[0].union(*probes[1:], all=True).order_by())
        else:
            rows = [row for probe in probes for row in probe]
        for queue, scheduled_at in rows:
            if queue not in oldest or scheduled_at < oldest[queue]:
                oldest[queue] = scheduled_at
    return {q: max((now - oldest[q]).total_seconds(), 0.0) if q in oldest else None for q in available}


# Past this many jobs finished in the hour, the chart uses per-minute estimates.
THROUGHPUT_EXACT_UP_TO = 200_000


def throughput(now: datetime, minutes: int = 60) -> list[dict[str, Any]]:
    """Return completed and failed (discarded or cancelled) jobs per minute, oldest first.

    Each bucket says whether its figures are the planner's estimates: a busy
    hour (past ``THROUGHPUT_EXACT_UP_TO`` jobs) is not read row by row.
    """
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    finished = _jobs().filter(state__in=sorted(TERMINAL_STATES), finished_at__gte=start).order_by()
    minutes_ = [start + timedelta(minutes=i) for i in range(minutes)]
    estimate = estimate_rows(finished)
    if estimate is not None and estimate > THROUGHPUT_EXACT_UP_TO:
        return [_estimated_minute(m) for m in minutes_]
    rows = (
        finished.annotate(minute=TruncMinute("finished_at"))
        .values_list("minute", "state")
        .annotate(n=Count("id"))
    )
    buckets = {m: {"completed": 0, "failed": 0} for m in minutes_}
    for minute, state, n in rows:
        bucket = buckets.get(minute)
        if bucket is not None:
            bucket["completed" if state == JobState.COMPLETED else "failed"] += n
    return [{"minute": m.isoformat(), **v, "estimated": False} for m, v in sorted(buckets.items())]


def _estimated_minute(minute: datetime) -> dict[str, Any]:
    in_minute = _jobs().filter(
        state__in=sorted(TERMINAL_STATES),
        finished_at__gte=minute,
        finished_at__lt=minute + timedelta(minutes=1),
    )
    completed = estimate_rows(in_minute.filter(state=JobState.COMPLETED)) or 0
    failed = estimate_rows(in_minute.exclude(state=JobState.COMPLETED)) or 0
    return {"minute": minute.isoformat(), "completed": completed, "failed": failed, "estimated": True}


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
