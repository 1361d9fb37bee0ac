"""List periodic schedules with their next runs."""

from __future__ import annotations

import argparse
import contextlib
import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from ..conf import get_settings
from ..models import PeriodicSchedule
from ..periodic.config import schedule_specs
from ..periodic.cron import InvalidCron, UnknownTimeZone, next_ticks, parse_cron, time_zone
from ..periodic.describe import describe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upcoming", type=int, default=1, metavar="N", help="Show the next N runs of each (default 1)."
    )
    parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")


def _local(value: datetime | None, zone_name: str) -> str:
    if value is None:
        return "-"
    with contextlib.suppress(UnknownTimeZone):
        value = value.astimezone(time_zone(zone_name))
    return value.strftime("%Y-%m-%d %H:%M:%S %Z")


def _upcoming(cron: str, zone_name: str, first: datetime | None, count: int, now: datetime) -> list[datetime]:
    """Return the next ``count`` runs: the stored next run, then the ticks after it."""
    try:
        expression, zone = parse_cron(cron), time_zone(zone_name)
    except (InvalidCron, UnknownTimeZone):
        return []
    if first is None:
        return next_ticks(expression, zone, now, count)
    return [first.astimezone(zone), *next_ticks(expression, zone, first, count - 1)]


def collect(upcoming: int = 1, now: datetime | None = None) -> list[dict[str, Any]]:
    """Return one dict per schedule (rows, then settings entries not synced yet)."""
    now = now or timezone.now()
    alias = get_settings().DATABASE
    entries = []
    for row in PeriodicSchedule.objects.using(alias).order_by("name"):
        runs = _upcoming(row.cron, row.timezone, row.next_run_at, upcoming, now) if row.enabled else []
        entries.append(
            {
                "name": row.name,
                "enabled": row.enabled,
                "cron": row.cron,
                "timezone": row.timezone,
                "schedule": describe(row.cron, row.timezone),
                "job": row.path,
                "source": "settings" if row.from_settings else "admin",
                "next_runs": [_local(run, row.timezone) for run in runs],
                "last_run": _local(row.last_run_at, row.timezone),
            }
        )
    known = {entry["name"] for entry in entries}
    specs, _ = schedule_specs(get_settings().PERIODIC or {})
    for spec in specs:
        if spec.name in known:
            continue
        enabled = spec.enabled is not False
        runs = _upcoming(spec.cron, spec.timezone, None, upcoming, now) if enabled else []
        entries.append(
            {
                "name": spec.name,
                "enabled": enabled,
                "cron": spec.cron,
                "timezone": spec.timezone,
                "schedule": describe(spec.cron, spec.timezone),
                "job": spec.path,
                "source": "settings (not synced yet: runjobs syncs at start)",
                "next_runs": [_local(run, spec.timezone) for run in runs],
                "last_run": "-",
            }
        )
    return entries


def handle(command: BaseCommand, **options: Any) -> None:
    upcoming = options["upcoming"]
    if upcoming < 1:
        raise ValueError(f"--upcoming {upcoming} is not valid; use 1 or more.")
    entries = collect(upcoming)
    if options["json"]:
        command.stdout.write(json.dumps(entries, indent=2))
        return
    if not entries:
        command.stdout.write("No periodic schedules. Declare them in DJOBS['PERIODIC'] or the admin.")
        return
    for entry in entries:
        state = "enabled" if entry["enabled"] else "DISABLED"
        command.stdout.write(f"{entry['name']}  [{state}, from {entry['source']}]")
        command.stdout.write(f"  {entry['schedule']}: {entry['cron']!r} -> {entry['job']}")
        runs = entry["next_runs"] or ["- (disabled)" if not entry["enabled"] else "- (invalid schedule)"]
        command.stdout.write(f"  next: {runs[0]}" + "".join(f"\n        {run}" for run in runs[1:]))
        command.stdout.write(f"  last: {entry['last_run']}")
