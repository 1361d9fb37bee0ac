"""The README's demo: ``manage.py demo`` migrates, enqueues, and its workers process jobs."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_command_runs_workers_that_process_its_jobs(tmp_path: Path) -> None:
    database = tmp_path / "demo.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SETTINGS_MODULE": "testproject.settings",
        "DEBUG": "False",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "demo", "--no-server", "--duration", "3"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "demo: enqueued" in result.stdout
    with sqlite3.connect(database) as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM djobs_job GROUP BY state").fetchall())
        admins = db.execute("SELECT COUNT(*) FROM auth_user WHERE username = 'admin'").fetchone()
    assert states.get("completed", 0) > 0
    assert states.get("executing", 0) == 0  # the workers released or finished everything
    assert admins == (1,)
