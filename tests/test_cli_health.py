"""``manage.py jobs health``: exit codes and one-line reasons for each condition a probe asks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from djobs.models import Job, WorkerProcess
from tests.runjobs_process import ROOT, RunJobs, wait_until
from tests.testapp import jobs as testapp_jobs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def health(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the probe as Kubernetes would: a fresh process against the test database."""
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "jobs", "health", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_migrated_reachable_database_is_healthy() -> None:
    probe = health()
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "ok: database 'default' reachable, migrations applied"


def test_an_unreachable_database_is_unhealthy_with_the_driver_reason() -> None:
    probe = health(
        DATABASE_URL="postgres://postgres@127.0.0.1:9/nowhere", DJANGO_SETTINGS_MODULE="tests.settings"
    )
    assert probe.returncode == 1
    assert probe.stderr.startswith("unhealthy: database 'default' unreachable:"), probe.stderr
    assert len(probe.stderr.strip().splitlines()) == 1


def test_an_unmigrated_database_is_unhealthy_and_names_the_missing_migrations(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite3"
    probe = health(DATABASE_URL=f"sqlite:///{empty}", DJANGO_SETTINGS_MODULE="tests.settings")
    assert probe.returncode == 1
    assert "djobs migrations not applied on 'default': 0001_initial" in probe.stderr
    assert "(run manage.py migrate)" in probe.stderr


def test_worker_probe_passes_while_a_runjobs_beats_on_this_host_and_fails_once_it_stopped(
    processes: list[RunJobs],
) -> None:
    assert health("--worker").returncode == 1
    worker = RunJobs("--queue", "default=1")
    processes.append(worker)
    wait_until(WorkerProcess.objects.exists, what="the worker to register")
    alive = health("--worker")
    assert alive.returncode == 0, alive.stderr
    assert "a runjobs on" in alive.stdout and "is alive" in alive.stdout
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.output()
    gone = health("--worker")
    assert gone.returncode == 1
    assert "no runjobs is registered on" in gone.stderr


def test_worker_probe_fails_when_the_registered_worker_stopped_beating() -> None:
    WorkerProcess.objects.create(
        id="frozen",
        hostname=os.uname().nodename,
        pid=os.getpid(),
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    probe = health("--worker", DJOBS_RESCUE_AFTER="60")
    assert probe.returncode == 1
    assert "has beaten in the last 30 s" in probe.stderr


def test_max_lag_fails_naming_the_queue_whose_oldest_job_waited_too_long() -> None:
    job = testapp_jobs.add.enqueue(1, 2)
    Job.objects.filter(pk=job.pk).update(scheduled_at=timezone.now() - timedelta(minutes=5))
    assert health("--max-lag", "600").returncode == 0
    late = health("--max-lag", "60")
    assert late.returncode == 1
    assert "queue 'default' lags" in late.stderr and "(over --max-lag 60)" in late.stderr
    other = health("--max-lag", "60", "--queue", "emails")
    assert other.returncode == 0, other.stderr
