"""Exit 0 when djobs is healthy, 1 with a one-line reason when not (Kubernetes probes).

Without options: the database is reachable and djobs' migrations are applied.
``--worker``: a ``runjobs`` on this host has a fresh heartbeat.
``--max-lag SECONDS``: no queue's oldest available job waited longer than that.
"""

from __future__ import annotations

import argparse
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models.functions import Now
from django.utils import timezone

from ..conf import get_settings
from ..models import WorkerProcess


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reason: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--worker",
        action="store_true",
        help="Also require a live runjobs on this host (its heartbeat fresh): a liveness probe.",
    )
    parser.add_argument(
        "--max-lag",
        type=float,
        metavar="SECONDS",
        help="Also require that no queue's oldest available job waited longer than SECONDS.",
    )
    parser.add_argument(
        "--queue", action="append", default=[], help="Limit --max-lag to this queue (repeatable)."
    )


def handle(command: BaseCommand, **options: Any) -> None:
    verdict = check(worker=options["worker"], max_lag=options["max_lag"], queues=options["queue"])
    if verdict.healthy:
        command.stdout.write(f"ok: {verdict.reason}")
        return
    command.stderr.write(f"unhealthy: {verdict.reason}")
    raise SystemExit(1)


def check(*, worker: bool = False, max_lag: float | None = None, queues: list[str] | None = None) -> Verdict:
    """Run the checks in order; the first that fails gives the reason."""
    alias = get_settings().DATABASE
    for probe in (_database, _migrated):
        failure = probe(alias)
        if failure:
            return Verdict(False, failure)
    said = [f"database {alias!r} reachable, migrations applied"]
    if worker:
        failure = _live_worker(alias)
        if failure:
            return Verdict(False, failure)
        said.append(f"a runjobs on {socket.gethostname()} is alive")
    if max_lag is not None:
        failure = _lag(max_lag, queues or [])
        if failure:
            return Verdict(False, failure)
        said.append(f"no queue lags more than {max_lag:g} s")
    return Verdict(True, "; ".join(said))


def _database(alias: str) -> str | None:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"database {alias!r} unreachable: {first_line}"
    return None


def _migrated(alias: str) -> str | None:
    executor = MigrationExecutor(connections[alias])
    leaves = [node for node in executor.loader.graph.leaf_nodes() if node[0] == "djobs"]
    plan = executor.migration_plan(leaves)
    if plan:
        names = ", ".join(migration.name for migration, _backwards in plan)
        return f"djobs migrations not applied on {alias!r}: {names} (run manage.py migrate)"
    return None


def _live_worker(alias: str) -> str | None:
    # A worker trusts itself for RESCUE_AFTER/2 after its last beat; the probe asks
    # the same of it. Ages are taken on the database's clock, as heartbeats are written.
    trust = timedelta(seconds=get_settings().RESCUE_AFTER / 2)
    host = socket.gethostname()
    workers = WorkerProcess.objects.using(alias).filter(hostname=host)
    if workers.filter(heartbeat_at__gte=Now() - trust).exists():
        return None
    if workers.exists():
        return f"no runjobs on {host} has beaten in the last {trust.total_seconds():g} s"
    return f"no runjobs is registered on {host}"


def _lag(max_lag: float, queues: list[str]) -> str | None:
    from ..admin.dashboard.queries import counts, queue_lag
    from ..states import JobState

    grid = counts()
    served = queues or grid.queues
    available = {q: grid.cell(q, JobState.AVAILABLE).value for q in served}
    lags = queue_lag(available, timezone.now())
    late = sorted(((lag, q) for q, lag in lags.items() if lag is not None and lag > max_lag), reverse=True)
    if late:
        lag, queue = late[0]
        return f"queue {queue!r} lags {lag:.1f} s (over --max-lag {max_lag:g})"
    return None
