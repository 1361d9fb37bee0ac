"""Settings to rows: ``DJOBS["PERIODIC"]`` becomes PeriodicSchedule rows when ``runjobs`` starts.

The rules:

- An entry with no row gets one, ``from_settings=True``, its first tick after now.
- An entry with a row gets its row updated to match (cron, time zone, job,
  arguments, options); a row created in the admin under the same name is taken
  over, with a warning. A changed cron or time zone moves the next run to the
  first new tick after now.
- ``enabled``: written in settings, settings own it and reset the admin toggle
  at each start; left out, the admin toggle is kept (a new row starts enabled).
- A ``from_settings`` row whose entry is gone from settings is **deleted** (the
  jobs it already enqueued stay). An entry that is present but invalid leaves
  its row untouched; the system check reports it.

Several processes may sync at once: creation tolerates the other's insert and
updates are conditional on the row still being as read, so they converge.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..conf import get_settings
from ..models import PeriodicSchedule
from .config import ScheduleSpec, schedule_specs
from .cron import next_tick, parse_cron, time_zone

logger = logging.getLogger("djobs.periodic")

_ATTEMPTS = 3


@dataclass(frozen=True)
class SyncResult:
    """What a sync changed, by schedule name."""

    created: list[str]
    updated: list[str]
    deleted: list[str]
    invalid: list[str]


def _first_tick(spec: ScheduleSpec, now: datetime) -> datetime:
    return next_tick(parse_cron(spec.cron), time_zone(spec.timezone), now)


def _changes(row: PeriodicSchedule, spec: ScheduleSpec, now: datetime) -> dict[str, Any]:
    wanted: dict[str, Any] = {
        "cron": spec.cron,
        "timezone": spec.timezone,
        "path": spec.path,
        "args": spec.args,
        "kwargs": spec.kwargs,
        "options": spec.options,
        "from_settings": True,
    }
    if spec.enabled is not None:
        wanted["enabled"] = spec.enabled
    changes = {key: value for key, value in wanted.items() if getattr(row, key) != value}
    enabled = wanted.get("enabled", row.enabled)
    if not enabled:
        if row.next_run_at is not None:
            changes["next_run_at"] = None
    elif "cron" in changes or "timezone" in changes or "enabled" in changes or row.next_run_at is None:
        changes["next_run_at"] = _first_tick(spec, now)
    return changes


def _sync_one(spec: ScheduleSpec, now: datetime, alias: str) -> str | None:
    """Make the row of ``spec`` match it; return "created", "updated" or None (no change)."""
    manager = PeriodicSchedule.objects.using(alias)
    for _ in range(_ATTEMPTS):
        row = manager.filter(name=spec.name).first()
        if row is None:
            enabled = spec.enabled if spec.enabled is not None else True
            try:
                with transaction.atomic(using=alias):
                    manager.create(
                        name=spec.name,
                        cron=spec.cron,
                        timezone=spec.timezone,
                        path=spec.path,
                        args=spec.args,
                        kwargs=spec.kwargs,
                        options=spec.options,
                        enabled=enabled,
                        from_settings=True,
                        next_run_at=_first_tick(spec, now) if enabled else None,
                        created_at=now,
                    )
                return "created"
            except IntegrityError:
                continue  # another process created it first: update that row instead
        changes = _changes(row, spec, now)
        if not changes:
            return None
        if not row.from_settings:
            logger.warning(
                "Periodic schedule %r was created in the admin; DJOBS['PERIODIC'] declares the "
                "same name, so settings take it over.",
                spec.name,
            )
        # Conditional on the row being as read, so two processes syncing at once
        # cannot interleave their reads and writes.
        if manager.filter(
            pk=row.pk,
            cron=row.cron,
            timezone=row.timezone,
            enabled=row.enabled,
            next_run_at=row.next_run_at,
        ).update(**changes, updated_at=timezone.now()):
            return "updated"
    logger.warning("Periodic schedule %r kept changing during the sync; left as is.", spec.name)
    return None


def sync_settings(now: datetime | None = None) -> SyncResult:
    """Create, update and delete ``from_settings`` rows to match ``DJOBS["PERIODIC"]``."""
    now = now or timezone.now()
    alias = get_settings().DATABASE
    raw = get_settings().PERIODIC or {}
    specs, problems = schedule_specs(raw)
    for problem in problems:
        logger.error("Periodic schedule not synced: %s %s", problem.message, problem.hint)
    declared = {name for name in raw if isinstance(name, str)}
    invalid = sorted(declared - {spec.name for spec in specs})
    created, updated = [], []
    for spec in specs:
        outcome = _sync_one(spec, now, alias)
        if outcome == "created":
            created.append(spec.name)
        elif outcome == "updated":
            updated.append(spec.name)
    gone = PeriodicSchedule.objects.using(alias).filter(from_settings=True).exclude(name__in=declared)
    deleted = sorted(gone.values_list("name", flat=True))
    if deleted:
        gone.filter(name__in=deleted).delete()
        logger.info("Deleted periodic schedules no longer in DJOBS['PERIODIC']: %s", ", ".join(deleted))
    return SyncResult(created=created, updated=updated, deleted=deleted, invalid=invalid)
