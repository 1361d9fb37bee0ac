"""Show jobs per queue and state, queue lag and worker processes (or counts of the filtered jobs)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count
from django.utils import timezone

from .. import registry
from ..admin.dashboard import queries
from ..admin.display import format_duration
from ..states import JobState
from .job_filters import add_filter_arguments, has_filter, selected_jobs

ATOMIC = "their database writes commit with their completion, exactly once"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_filter_arguments(parser)
    parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")


def handle(command: BaseCommand, **options: Any) -> None:
    if has_filter(options):
        rows = selected_jobs(options).order_by().values_list("state").annotate(n=Count("id"))
        counts = {state: n for state, n in rows}
        if options["json"]:
            command.stdout.write(json.dumps(counts, sort_keys=True))
            return
        for state in JobState.values:
            command.stdout.write(f"{state:<10} {counts.get(state, 0):>10}")
        for path in options.get("path") or []:
            if registry.is_atomic(path):
                command.stdout.write(f"{path} is atomic: its database writes commit with its completion.")
        return
    now = timezone.now()
    grid = queries.counts()
    lag = queries.queue_lag({q: grid.cell(q, JobState.AVAILABLE).value for q in grid.queues}, now)
    workers = queries.workers(now)
    if options["json"]:
        command.stdout.write(
            json.dumps(
                {
                    "counts": {
                        q: {s: c.value for s, c in zip(grid.states, cells, strict=True)}
                        for q, cells in grid.rows()
                    },
                    "estimated": sorted({s for s in grid.states if grid.total(s).estimated}),
                    "lag_seconds": lag,
                    "workers": [{**w, "started_at": w["started_at"].isoformat()} for w in workers],
                    "atomic_jobs": registry.atomic_paths(),
                },
                sort_keys=True,
            )
        )
        return
    width = max([5, *(len(q) for q in grid.queues)])
    command.stdout.write(f"{'queue':<{width}} " + " ".join(f"{s:>10}" for s in grid.states) + "        lag")
    for queue, cells in grid.rows():
        figures = " ".join(f"{('~' if c.estimated else '') + str(c.value):>10}" for c in cells)
        queue_lag = lag.get(queue)
        command.stdout.write(
            f"{queue:<{width}} {figures} {format_duration(queue_lag) if queue_lag is not None else '-':>10}"
        )
    totals = " ".join(
        f"{('~' if t.estimated else '') + str(t.value):>10}" for t in map(grid.total, grid.states)
    )
    command.stdout.write(f"{'all':<{width}} {totals}")
    alive = [w for w in workers if w["alive"]]
    command.stdout.write(f"\n{len(alive)} live worker process(es) of {len(workers)} registered.")
    for w in workers:
        state = "alive" if w["alive"] else "stale"
        command.stdout.write(
            f"  {w['id']} {w['hostname']}:{w['pid']} "
            f"heartbeat {format_duration(w['heartbeat_age'])} ago ({state})"
        )
    atomic = registry.atomic_paths()
    if atomic:
        command.stdout.write(f"\nAtomic jobs ({ATOMIC}): {', '.join(atomic)}")
