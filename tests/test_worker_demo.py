"""The README's demo: ``manage.py demo`` migrates, enqueues, and its workers process jobs."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
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
        batches = dict(db.execute("SELECT description, COUNT(*) FROM djobs_batch GROUP BY description"))
    assert states.get("completed", 0) > 0
    assert states.get("executing", 0) == 0  # the workers released or finished everything
    assert admins == (1,)
    # The Batches page has something: the weekly update (on_complete) and an import (on_success/on_discard).
    assert batches.get("nightly import", 0) >= 1
    assert any(description.startswith("weekly update") for description in batches), batches


def _descendants(root: int) -> dict[int, str]:
    """Return the live (not zombie) descendants of ``root``: pid -> command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                try:
                    cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes()
                    found[pid] = cmdline.replace(b"\0", b" ").decode()
                except OSError:
                    continue
                frontier.append(pid)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_demo(command: list[str], tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, int]:
    port = _free_port()
    log = tmp_path / "demo.log"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "testproject.settings",
        "DEBUG": "False",
        "PYTHONPATH": str(ROOT),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--size", "2", "--addrport", f"127.0.0.1:{port}"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, log, port


def _wait_for_children(process: subprocess.Popen[bytes], log: Path, port: int) -> dict[int, str]:
    end = time.monotonic() + 90
    while time.monotonic() < end:
        assert process.poll() is None, log.read_text()
        children = _descendants(process.pid)
        serving = any("runjobs" in c for c in children.values()) and any(
            "runserver" in c for c in children.values()
        )
        # runjobs has installed its signal handlers once it says it started.
        if serving and re.search(r"worker \S+ started", log.read_text()):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return children
        time.sleep(0.2)
    raise AssertionError(f"the demo's runjobs and runserver did not start:\n{log.read_text()}")


def _sigterm_leaves_no_child(command: list[str], tmp_path: Path) -> str:
    process, log, port = _start_demo(command, tmp_path)
    try:
        children = _wait_for_children(process, log, port)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) is not None
        end = time.monotonic() + 10
        while time.monotonic() < end and any(_alive(pid) for pid in children):
            time.sleep(0.1)
        assert not [cmd for pid, cmd in children.items() if _alive(pid)], log.read_text()
        return log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
        for pid in _descendants(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_sigterm_to_manage_py_demo_stops_its_runjobs_and_runserver(tmp_path: Path) -> None:
    output = _sigterm_leaves_no_child([sys.executable, str(ROOT / "manage.py"), "demo"], tmp_path)
    assert "demo: stopping" in output
    # runjobs got one SIGTERM (a graceful stop), not two (which exits without releasing).
    assert "got SIGTERM again" not in output
    assert re.search(r"stopped: \d+ claimed, \d+ recorded, \d+ released", output), output


@pytest.mark.slow
def test_sigterm_to_dev_py_demo_leaves_no_child_alive(tmp_path: Path) -> None:
    output = _sigterm_leaves_no_child(
        [sys.executable, str(ROOT / "dev.py"), "demo", "--no-install"], tmp_path
    )
    assert "got SIGTERM again" not in output
    assert "demo: stopping" in output


def test_the_demo_binds_127_0_0_1_unless_told_otherwise() -> None:
    from testproject.demo.management.commands.demo import Command

    options = Command().create_parser("manage.py", "demo").parse_args([])
    assert options.addrport == "127.0.0.1:8000"


@pytest.mark.django_db
def test_the_flaky_demo_jobs_error_says_retried_only_when_it_will_be(monkeypatch: pytest.MonkeyPatch) -> None:
    from djobs.testing import perform_job
    from testproject.demo import jobs

    monkeypatch.setattr(jobs.random, "random", lambda: 0.0)  # this run fails
    first = perform_job(jobs.flaky, (7,), attempt=1, max_attempts=3)
    last = perform_job(jobs.flaky, (7,), attempt=3, max_attempts=3)
    assert first.state == "retryable"
    assert "attempt 1 of 3; it will be retried" in str(first.exception)
    assert last.state == "discarded"
    assert "attempt 3 of 3; no attempts left: discarded" in str(last.exception)
    assert "retried" not in str(last.exception)
