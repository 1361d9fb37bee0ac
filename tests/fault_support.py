"""What the fault-injection tests share: short intervals, pausing a worker, counting starts."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterable

from django.db import connection

from djobs.models import Job, WorkerProcess
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp.models import Marker

#: Environment of a worker that is presumed dead after 2 s without a heartbeat.
FAST = {"DJOBS_RESCUE_AFTER": "2", "DJOBS_HEARTBEAT_INTERVAL": "0.5"}


def starts(job: Job) -> list[str]:
    """Return the "start <attempt> <worker>" Markers of a fault_jobs.paced job, in order."""
    return list(
        Marker.objects.filter(job_id=job.pk, name__startswith="start ")
        .order_by("id")
        .values_list("name", flat=True)
    )


def ticks(job: Job) -> int:
    """Return how many times a fault_jobs.tick job started."""
    return Marker.objects.filter(job_id=job.pk, name="tick").count()


def in_state(jobs: Iterable[Job], *states: str) -> bool:
    return Job.objects.filter(pk__in=[j.pk for j in jobs]).exclude(state__in=states).count() == 0


def worker_id_of(process: RunJobs) -> str:
    """Return the WorkerProcess id of ``process`` (a runjobs started without a prefix)."""
    rows = WorkerProcess.objects.filter(pid=process.process.pid)
    wait_until(rows.exists, what="the worker to register")
    return rows.get().id


def write_lock_free() -> bool:
    """Say whether another connection could write now (SQLite: nobody holds the write lock)."""
    if connection.vendor != "sqlite":
        return True  # PostgreSQL commits an autocommit statement without the client
    probe = sqlite3.connect(connection.settings_dict["NAME"], timeout=0.05)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def stop_between_writes(process: RunJobs) -> None:
    """SIGSTOP ``process`` at a moment it holds no SQLite write lock (else others would wait)."""
    for _ in range(200):
        process.signal(signal.SIGSTOP)
        time.sleep(0.02)
        if write_lock_free():
            return
        process.signal(signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("could not stop the worker between two writes")


def pause(process: RunJobs, seconds: float) -> None:
    """Freeze ``process`` for ``seconds`` (a GC pause, a VM migration, a laptop lid)."""
    stop_between_writes(process)
    time.sleep(seconds)
    process.signal(signal.SIGCONT)
