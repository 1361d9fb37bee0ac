"""The periodic scheduler: enqueue each due tick of each enabled schedule, exactly once.

Every ``runjobs`` process runs this service; the database decides which one
enqueues a tick. In one transaction (one savepoint of a batch's transaction) a
process moves the schedule's ``next_run_at`` forward with ``UPDATE ... WHERE
id = %s AND next_run_at = <the value it read>`` and, only if that updated the
row, inserts the tick's job.
A second process either blocks on the row lock and then matches nothing
(PostgreSQL re-checks the condition after the winner commits), or waits for
SQLite's single writer and reads the new value. The job also carries a unique
key of (schedule, tick) covering every state, so a tick reached again by
another path (a settings sync racing the scheduler) still inserts once.

Missed ticks (the service was down past one or more ticks) follow the
schedule's ``catch_up`` option:

- ``"latest"`` (default): one run, for the most recent missed tick;
- ``"all"``: one run per missed tick, at most ``catch_up_limit`` per round;
- ``"skip"``: none; only a tick seen within ``skip_grace`` seconds of its time runs.

A schedule whose row is bad (invalid cron, unknown time zone, job not
registered in this process, arguments that do not fit) is skipped with a
logged error and its next run is left as is, so once fixed it resumes under
its catch-up policy. The worker never crashes on a row.

Jobs carry ``{"periodic": <name>, "tick": <ISO time in the schedule's zone>}``
in ``meta``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from .. import registry
from ..conf import get_settings
from ..enqueue import PendingJob, insert_pending
from ..models import PeriodicSchedule
from ..periodic.config import DEFAULT_CATCH_UP, argument_errors, option_errors, unknown_job_message
from ..periodic.cron import (
    CronExpression,
    InvalidCron,
    UnknownTimeZone,
    is_tick,
    latest_tick,
    next_tick,
    parse_cron,
    ticks_between,
    time_zone,
)
from ..states import JobState, states_mask
from .base import ServiceResult

logger = logging.getLogger("djobs.periodic")

MIN_INTERVAL = 0.01
_Outcome = tuple[str, int]  # (a key of run_once's counts, how many)
# The periodic unique key holds in every state: a tick never runs twice, even
# after its first job finished.
ALL_STATES_MASK = states_mask(tuple(JobState.values))


def periodic_unique_key(name: str, tick: datetime) -> str:
    """Return the unique key of the job for ``tick`` of schedule ``name``."""
    instant = tick.astimezone(UTC).isoformat()
    material = json.dumps(["djobs.periodic", name, instant], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class SchedulerConfig:
    """``max_interval``: most seconds between rounds (admin edits show up within it);
    ``catch_up_limit``: most jobs one schedule enqueues per round under ``catch_up="all"``;
    ``skip_grace``: seconds late a tick may be and still run under ``catch_up="skip"``;
    ``sync_on_start``: sync ``DJOBS["PERIODIC"]`` into rows in the first round;
    ``batch_size``: due schedules written per transaction."""

    max_interval: float = 1.0
    catch_up_limit: int = 500
    skip_grace: float = 60.0
    sync_on_start: bool = True
    batch_size: int = 50

    def validate(self) -> None:
        if self.max_interval <= 0:
            raise ValueError(f"SchedulerConfig.max_interval={self.max_interval!r}: use seconds above 0.")
        if self.catch_up_limit < 1:
            raise ValueError(f"SchedulerConfig.catch_up_limit={self.catch_up_limit!r}: use at least 1.")
        if self.batch_size < 1:
            raise ValueError(f"SchedulerConfig.batch_size={self.batch_size!r}: use at least 1.")
        if self.skip_grace < 0:
            raise ValueError(f"SchedulerConfig.skip_grace={self.skip_grace!r}: use 0 or more seconds.")


@dataclass
class TickPlan:
    """What to do for one due schedule: the ticks to enqueue and its next run."""

    ticks: list[datetime]
    next_run_at: datetime
    skipped: bool = False


def plan_ticks(
    cron: CronExpression,
    zone: tzinfo,
    due: datetime,
    now: datetime,
    catch_up: str,
    config: SchedulerConfig = SchedulerConfig(),  # frozen, so sharing the default is safe
) -> TickPlan:
    """Decide which ticks from ``due`` (the stored next run) up to ``now`` to enqueue (pure)."""
    now = now.astimezone(UTC)  # subtract instants, not wall clocks (DST's fold)
    if due > now:
        return TickPlan(ticks=[], next_run_at=due)
    if catch_up == "all":
        ticks = ticks_between(cron, zone, due, now, config.catch_up_limit)
        return TickPlan(ticks=ticks, next_run_at=next_tick(cron, zone, ticks[-1]))
    latest = latest_tick(cron, zone, now)
    following = next_tick(cron, zone, now)
    if catch_up == "skip" and now - latest > timedelta(seconds=config.skip_grace):
        return TickPlan(ticks=[], next_run_at=following, skipped=True)
    return TickPlan(ticks=[latest], next_run_at=following)


@dataclass
class _Due:
    """A due schedule, checked and planned: its row, the next run it was read with, its jobs."""

    row: PeriodicSchedule
    due: datetime
    plan: TickPlan
    pending: list[PendingJob]


class PeriodicScheduler:
    """The maintenance service that turns due schedule ticks into jobs."""

    name = "periodic"
    in_burst = True
    log_rounds = True

    def __init__(
        self, config: SchedulerConfig | None = None, *, clock: Callable[[], datetime] = timezone.now
    ) -> None:
        self.config = config or SchedulerConfig()
        self.config.validate()
        self.clock = clock
        self._synced = not self.config.sync_on_start
        self._next_due: datetime | None = None
        # Only for not repeating the same error every second; correctness never depends on it.
        self._reported: dict[int, str] = {}

    @property
    def interval(self) -> float:
        """Seconds until the next due tick, at most ``max_interval`` (admin edits show up)."""
        if self._next_due is None:
            return self.config.max_interval
        wait = (self._next_due - self.clock()).total_seconds()
        return min(self.config.max_interval, max(MIN_INTERVAL, wait))

    def run_once(self, now: datetime | None = None) -> ServiceResult:
        """Enqueue every due tick once; return counts of enqueued jobs and other changes."""
        now = now or self.clock()
        counts = {"synced": 0, "enqueued": 0, "initialized": 0, "cleared": 0, "skipped": 0, "errors": 0}
        if not self._synced:
            counts["synced"] = self._sync(now)
        alias = get_settings().DATABASE
        manager = PeriodicSchedule.objects.using(alias)
        rows = list(
            manager.filter(
                Q(enabled=True, next_run_at__isnull=True)
                | Q(enabled=True, next_run_at__lte=now)
                | Q(enabled=False, next_run_at__isnull=False)
            ).order_by("next_run_at", "id")
        )
        due: list[_Due] = []
        for row in rows:
            if not row.enabled:
                # A disabled schedule has no next run; re-enabled, it starts from then,
                # without a catch-up run for the time it was off.
                counts["cleared"] += manager.filter(pk=row.pk, enabled=False).update(next_run_at=None)
                continue
            try:
                prepared = self._prepare(row, now, alias)
            except Exception as exc:  # a bug: never the worker's end
                prepared = self._report(row, f"{type(exc).__name__}: {exc}", exc_info=True)
            if isinstance(prepared, _Due):
                due.append(prepared)
            elif prepared is not None:
                counts[prepared[0]] += prepared[1]
        for start in range(0, len(due), self.config.batch_size):
            for key, number in self._write(due[start : start + self.config.batch_size], alias):
                counts[key] += number
        # Rows known to be bad stay due; leaving them out of the wait keeps the
        # service from spinning on them (they are still retried every max_interval).
        waiting = manager.filter(enabled=True).exclude(pk__in=list(self._reported))
        self._next_due = waiting.aggregate(due=Min("next_run_at"))["due"]
        return ServiceResult(counts=counts)

    def _sync(self, now: datetime) -> int:
        from ..periodic.sync import sync_settings

        try:
            result = sync_settings(now)
        except Exception:
            logger.exception("Syncing DJOBS['PERIODIC'] into schedules failed; will retry.")
            return 0
        self._synced = True
        return len(result.created) + len(result.updated) + len(result.deleted)

    def _report(self, row: PeriodicSchedule, message: str, *, exc_info: bool = False) -> _Outcome | None:
        """Log a bad row's error once (until it changes); count it only then."""
        if self._reported.get(row.pk) == message:
            return None
        self._reported[row.pk] = message
        logger.error("Periodic schedule %r skipped: %s", row.name, message, exc_info=exc_info)
        return ("errors", 1)

    def _prepare(self, row: PeriodicSchedule, now: datetime, alias: str) -> _Due | _Outcome | None:
        """Check one enabled row and plan its ticks; nothing is enqueued yet."""
        try:
            cron = parse_cron(row.cron)
            zone = time_zone(row.timezone)
        except (InvalidCron, UnknownTimeZone) as exc:
            return self._report(row, str(exc))
        due = row.next_run_at
        if due is None or not is_tick(cron, zone, due):
            # New, re-enabled, or its cron/time zone changed: the first tick counts from now.
            first = next_tick(cron, zone, now)
            manager = PeriodicSchedule.objects.using(alias)
            if manager.filter(pk=row.pk, enabled=True, next_run_at=due).update(next_run_at=first):
                return ("initialized", 1)
            return None
        if not registry.is_registered(row.path):
            return self._report(row, unknown_job_message(row.path))
        problems = option_errors(row.options) + argument_errors(row.path, row.args, row.kwargs)
        if problems:
            return self._report(row, "; ".join(problems))
        catch_up = (row.options or {}).get("catch_up", DEFAULT_CATCH_UP)
        plan = plan_ticks(cron, zone, due, now, catch_up, self.config)
        return _Due(row, due, plan, [self._pending(row, tick) for tick in plan.ticks])

    def _write(self, batch: list[_Due], alias: str) -> list[_Outcome]:
        """Move each schedule's next run and insert its jobs; one commit for the batch."""
        manager = PeriodicSchedule.objects.using(alias)
        outcomes: list[_Outcome] = []
        # One transaction per batch (a commit per schedule is what costs), and a
        # savepoint per schedule, so a failing insert undoes only its own
        # schedule's update. The first statement is a write, so SQLite takes its
        # write lock at once instead of upgrading a read.
        with transaction.atomic(using=alias):
            for item in batch:
                row, plan = item.row, item.plan
                try:
                    with transaction.atomic(using=alias):
                        won = manager.filter(pk=row.pk, enabled=True, next_run_at=item.due).update(
                            next_run_at=plan.next_run_at,
                            last_run_at=plan.ticks[-1] if plan.ticks else row.last_run_at,
                        )
                        jobs = insert_pending(item.pending) if won else []
                except Exception as exc:  # undone by its savepoint; the batch goes on
                    outcome = self._report(row, f"{type(exc).__name__}: {exc}", exc_info=True)
                    outcomes.extend([outcome] if outcome else [])
                    continue
                self._reported.pop(row.pk, None)  # it works now: a later error is news again
                if not won:
                    continue  # another process took this tick
                if plan.skipped:
                    logger.info("Periodic schedule %r: missed ticks skipped (catch_up='skip').", row.name)
                    outcomes.append(("skipped", 1))
                enqueued = sum(1 for job in jobs if not job.duplicate)
                if enqueued:
                    outcomes.append(("enqueued", enqueued))
        return outcomes

    def _pending(self, row: PeriodicSchedule, tick: datetime) -> PendingJob:
        options = row.options or {}
        overrides = {key: options[key] for key in ("queue", "priority", "max_attempts") if key in options}
        job_function = registry.lookup(row.path)
        pending = job_function.using(
            **overrides, meta={"periodic": row.name, "tick": tick.isoformat()}, unique=False
        ).new(*row.args, **row.kwargs)
        pending.unique_key = periodic_unique_key(row.name, tick)
        pending.unique_states = ALL_STATES_MASK
        return pending
