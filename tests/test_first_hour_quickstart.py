"""The quickstart's worker output, in a project fresh from ``startproject``, is what the docs show."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "docs" / "quickstart.md"

JOBS = """from djobs import job


@job(max_attempts=3)
def add(a: int, b: int) -> int:
    return a + b


@job(max_attempts=1)
def charge(order_id: int) -> None:
    raise ConnectionError(f"payment gateway timed out for order {order_id}")
"""
SETTINGS = """
INSTALLED_APPS += ["djobs", "shop"]
DATABASES["default"]["OPTIONS"] = {
    "init_command": "PRAGMA journal_mode=WAL;",
    "transaction_mode": "IMMEDIATE",
}
"""


def documented_burst() -> list[str]:
    """Return the lines the quickstart shows for ``runjobs --burst``."""
    text = QUICKSTART.read_text()
    block = text.split("$ python manage.py runjobs --burst\n", 1)[1].split("```", 1)[0]
    return block.strip().splitlines()


def normalized(line: str) -> str:
    """Blank what changes from run to run: times, worker ids, pids, durations."""
    line = re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", "TIME ", line)
    line = re.sub(r"worker \S+-\d+-[0-9a-f]{6}", "worker ID", line)
    line = re.sub(r"\(pid \d+\)", "(pid N)", line)
    line = re.sub(r"djobs \d+\.\d+\.\d+\S* worker", "djobs VERSION worker", line)
    return re.sub(r"finished in [0-9.]+s", "finished in Ns", line)


@pytest.mark.slow
def test_a_startproject_project_shows_the_banner_failure_line_and_summary_the_quickstart_shows(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    env["PYTHONPATH"] = str(ROOT)  # djobs from this checkout, as `pip install -e` would give

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    run(sys.executable, "-m", "django", "startproject", "mysite", ".")
    run(sys.executable, "manage.py", "startapp", "shop")
    (tmp_path / "shop" / "jobs.py").write_text(JOBS)
    with (tmp_path / "mysite" / "settings.py").open("a") as settings:
        settings.write(SETTINGS)
    run(sys.executable, "manage.py", "migrate", "-v", "0")
    run(sys.executable, "manage.py", "check", "--fail-level", "WARNING")
    enqueue = "from shop.jobs import add, charge; add.enqueue(2, 3); add.enqueue(4, 5); charge.enqueue(42)"
    run(sys.executable, "manage.py", "shell", "-v", "0", "-c", enqueue)
    result = run(sys.executable, "manage.py", "runjobs", "--burst")
    shown = [normalized(line) for line in result.stderr.strip().splitlines()]
    documented = [normalized(line) for line in documented_burst()]
    assert shown == documented, result.stderr
