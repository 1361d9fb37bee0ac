#!/usr/bin/env python3
"""Set up and run djobs from a fresh clone: ``python3 dev.py demo`` or ``python3 dev.py test``.

Only Python and git are needed: the script makes a virtual environment in
``.venv`` (or ``.venv-<python>-django<version>``), installs the project with its
development dependencies and runs the command.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/djobs"
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/djobs"
# Seconds a child (the demo, pytest) has to stop after SIGTERM before it is killed.
STOP_GRACE = 40.0
NO_INSTALL = False
DJANGO_PINS = {"5.2": "Django>=5.2,<5.3", "6.0": "Django>=6.0,<6.1", "6.1": "Django>=6.1,<6.2"}


def venv_dir(python: str, django: str | None) -> Path:
    if python == sys.executable and django is None:
        return ROOT / ".venv"
    name = Path(python).name + (f"-django{django}" if django else "")
    return ROOT / f".venv-{name}"


def ensure_venv(python: str, django: str | None, extras: str = "dev") -> Path:
    """Create the venv and install the project; reinstall only when pyproject changes."""
    venv = venv_dir(python, django)
    bin_dir = venv / "bin"
    if NO_INSTALL and (bin_dir / "python").exists():
        return bin_dir  # --no-install: the venv as it is (offline, or in dev.py's own tests)
    stamp = venv / ".djobs-installed"
    wanted = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + str(django).encode() + extras.encode()
    ).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return bin_dir
    if not (bin_dir / "python").exists():
        print(f"dev.py: creating {venv.name} with {python}", flush=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-U", "pip"], check=True)
    spec = [f"-e{ROOT}[{extras}]"]
    if django:
        spec.append(DJANGO_PINS[django])
    print(f"dev.py: installing djobs[{extras}] into {venv.name}", flush=True)
    subprocess.run([*pip, *spec], check=True)
    stamp.write_text(wanted)
    return bin_dir


def server_reachable(url: str) -> bool:
    """Say whether something listens at the host and port of a database URL."""
    from urllib.parse import urlparse

    parts = urlparse(url)
    default_port = 3306 if parts.scheme.startswith(("mysql", "mariadb")) else 5432
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), 2):
            return True
    except OSError:
        return False


class ChildGroup:
    """Run children, each in a process group of its own, stopped when dev.py stops.

    SIGINT and SIGTERM to dev.py are passed on, once, to every child's whole
    group (pytest and the runjobs processes it starts; ``manage.py demo``, which
    stops its own children); a second signal kills the groups. Whatever is left
    of a group when its leader ends, or when dev.py exits, is killed.
    """

    def __init__(self) -> None:
        self.current: list[subprocess.Popen[bytes]] = []
        self.signalled: int | None = None

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        atexit.register(self.stop)

    def _on_signal(self, signum: int, frame: object) -> None:
        # No waiting here: the main thread waits on the children, and goes on
        # once they have stopped.
        again = self.signalled is not None
        self.signalled = signum
        if not self.current:
            raise SystemExit(128 + signum)
        for child in list(self.current):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL if again else signum)

    def start(
        self, cmd: list[str], env: dict[str, str], *, stdout: int | IO[bytes] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``cmd``; ``stdout`` is PIPE, a file (its stderr goes there too) or None (dev.py's)."""
        stderr = subprocess.STDOUT if stdout not in (None, subprocess.PIPE) else None
        child = subprocess.Popen(cmd, env=env, cwd=ROOT, process_group=0, stdout=stdout, stderr=stderr)
        self.current.append(child)
        return child

    def reap(self, child: subprocess.Popen[bytes]) -> int:
        """Wait for ``child``, kill what is left of its group, and return its status."""
        status = child.wait()
        self.stop([child])
        return status

    def finish(self, child: subprocess.Popen[bytes]) -> int:
        """Reap ``child``; exit as dev.py was told to if a signal came meanwhile."""
        status = self.reap(child)
        self.exit_if_signalled()
        return status

    def exit_if_signalled(self) -> None:
        if self.signalled is not None:
            raise SystemExit(128 + self.signalled)

    def stop(self, children: list[subprocess.Popen[bytes]] | None = None, grace: float = STOP_GRACE) -> None:
        """SIGTERM the groups, wait up to ``grace`` s for their leaders, then kill the rest."""
        children = list(self.current) if children is None else children
        self.current = [c for c in self.current if c not in children]
        for child in children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"dev.py: a child did not stop within {grace:g}s; killing it", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)  # stragglers of the group (the leader may be gone)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(5)


CHILDREN = ChildGroup()


def run(cmd: list[str], env: dict[str, str]) -> int:
    print("dev.py: $", " ".join(cmd), flush=True)
    return CHILDREN.finish(CHILDREN.start(cmd, env))


@dataclass
class DatabaseRun:
    """One database the suite runs on; a new database is one more entry in DATABASE_RUNS."""

    name: str
    label: str
    url_env: str | None  # the environment variable that overrides its URL
    default_url: str
    needs_server: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return os.environ.get(self.url_env, self.default_url) if self.url_env else self.default_url

    def environment(self, base: dict[str, str], test_id: str) -> dict[str, str]:
        """Return the environment of this database's pytest run.

        Its test database (or SQLite file) is named for ``test_id`` and this
        database, so runs side by side never share one.
        """
        return {**base, "DATABASE_URL": self.url, "DJOBS_TEST_ID": f"{test_id}-{self.name}", **self.extra_env}


DATABASE_RUNS = [
    DatabaseRun("sqlite", "SQLite", None, "sqlite:///djobs-test.sqlite3", needs_server=False),
    DatabaseRun(
        "postgres",
        "PostgreSQL",
        "DJOBS_TEST_POSTGRES_URL",
        DEFAULT_PG_URL,
        extra_env={"DJOBS_REQUIRE_POSTGRES": "1"},
    ),
    DatabaseRun("mariadb", "MariaDB", "DJOBS_TEST_MYSQL_URL", DEFAULT_MYSQL_URL),
]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# pytest's last line: "=== 3 passed, 1 skipped in 2.05s ===" (without the "=" under -q).
_FINAL = re.compile(r"^=*\s*(\d+ [a-z]+(?:, \d+ [a-z]+)*) in ([0-9.]+)s(?: \([0-9:]+\))?\s*=*$")
_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)")


def pytest_summary(line: str) -> tuple[dict[str, int], float] | None:
    """Return the counts and seconds of pytest's final line, or None if ``line`` is not it."""
    match = _FINAL.match(_ANSI.sub("", line).strip())
    if not match:
        return None
    counts: dict[str, int] = {}
    for number, kind in _COUNT.findall(match.group(1)):
        kind = {"error": "errors", "warning": "warnings"}.get(kind, kind)
        counts[kind] = counts.get(kind, 0) + int(number)
    return counts, float(match.group(2))


def run_pytest(cmd: list[str], env: dict[str, str]) -> tuple[int, dict[str, int], float]:
    """Run pytest, echoing its output; return its status, counts and seconds."""
    print("dev.py: $", " ".join(cmd), flush=True)
    child = CHILDREN.start(cmd, env, stdout=subprocess.PIPE)
    counts: dict[str, int] = {}
    seconds = 0.0
    assert child.stdout is not None
    for raw in child.stdout:
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
        found = pytest_summary(raw.decode(errors="replace"))
        if found:
            counts, seconds = found
    return CHILDREN.finish(child), counts, seconds


def run_side_by_side(
    runs: list[tuple[str, list[str], dict[str, str]]],
) -> dict[str, tuple[int, dict[str, int], float]]:
    """Run the ``(header, cmd, env)`` pytest runs at once; print each one's output whole when it ends.

    Return each header's status, counts and seconds. Each output is kept in a
    file of its own until its run ends, so runs never interleave their lines.
    """
    pending: dict[str, tuple[subprocess.Popen[bytes], IO[bytes]]] = {}
    for header, cmd, env in runs:
        output: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  (closed once printed)
        pending[header] = (CHILDREN.start(cmd, env, stdout=output), output)
    results: dict[str, tuple[int, dict[str, int], float]] = {}
    while pending:
        ended = [header for header, (child, _) in pending.items() if child.poll() is not None]
        if not ended:
            time.sleep(0.2)
        for header in ended:
            child, log = pending.pop(header)
            status = CHILDREN.reap(child)
            print(f"\n{header}", flush=True)
            counts: dict[str, int] = {}
            seconds = 0.0
            with log:
                log.seek(0)
                for raw in log:
                    sys.stdout.buffer.write(raw)
                    found = pytest_summary(raw.decode(errors="replace"))
                    if found:
                        counts, seconds = found
            sys.stdout.buffer.flush()
            results[header] = (status, counts, seconds)
    CHILDREN.exit_if_signalled()
    return results


def describe_counts(counts: dict[str, int]) -> str:
    order = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed", "deselected")
    return ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k)) or "no tests ran"


def database_choice(value: str) -> str:
    """argparse type for --db: "all" or comma-separated database names."""
    names = {d.name for d in DATABASE_RUNS}
    wanted = value.split(",")
    if value == "all" or all(name in names for name in wanted):
        return value
    raise argparse.ArgumentTypeError(f"{value!r}: use all, or names among {', '.join(sorted(names))}")


def cmd_test(args: argparse.Namespace, extra: list[str]) -> int:
    bin_dir = ensure_venv(args.python, args.django)
    base_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Each run sets these itself (a run nested in another's tests must not inherit them).
    for name in ("DATABASE_URL", "DJOBS_REQUIRE_POSTGRES"):
        base_env.pop(name, None)
    test_id = os.environ.get("DJOBS_TEST_ID", "main")
    pytest = [str(bin_dir / "python"), "-m", "pytest"]
    if sys.stdout.isatty() and not any(a.startswith("--color") for a in extra):
        pytest.append("--color=yes")  # its output goes through dev.py
    pytest += extra
    in_ci = os.environ.get("CI", "").lower() not in ("", "0", "false")
    notes: dict[str, tuple[str, dict[str, int], float]] = {}
    planned: list[tuple[DatabaseRun, str, dict[str, str]]] = []
    for database in DATABASE_RUNS:
        if args.db != "all" and database.name not in args.db.split(","):
            continue
        url = database.url
        if database.needs_server and not server_reachable(url):
            required = in_ci or (database.name == "postgres" and args.require_postgres)
            note = f"{'FAILED' if required else 'skipped'}: {url} is not reachable"
            print(
                f"dev.py: {database.label} at {url} is not reachable; "
                f"{'its tests could not run' if required else 'skipped its run'}.",
                flush=True,
            )
            notes[database.name] = (note, {"failed": 1} if required else {}, 0.0)
            continue
        header = f"dev.py: ===== {database.label}: the suite on {url} ====="
        planned.append((database, header, database.environment(base_env, test_id)))
    started = time.monotonic()
    outcomes: dict[str, tuple[int, dict[str, int], float]] = {}
    side_by_side = len(planned) > 1 and not args.serial
    if side_by_side:
        print("dev.py: $", " ".join(pytest), flush=True)
        labels = ", ".join(d.label for d, _, _ in planned)
        print(
            f"dev.py: {labels} side by side (--serial: one after the other); "
            "each run's output follows, whole, when it ends",
            flush=True,
        )
        by_header = run_side_by_side([(header, pytest, env) for _, header, env in planned])
        outcomes = {database.name: by_header[header] for database, header, _ in planned}
    else:
        for database, header, env in planned:
            print(f"\n{header}", flush=True)
            outcomes[database.name] = run_pytest(pytest, env)
    for name, (status, counts, seconds) in outcomes.items():
        verdict = "ok" if status == 0 else f"FAILED (pytest exit status {status})"
        notes[name] = (f"{verdict}: {describe_counts(counts)} in {seconds:.1f}s", counts, seconds)
        if status != 0 and not counts.get("failed") and not counts.get("errors"):
            counts["errors"] = 1  # pytest failed before counting (a usage error, an interruption)
    print("\ndev.py: summary", flush=True)
    total: dict[str, int] = {}
    for database in DATABASE_RUNS:
        if database.name not in notes:
            continue
        note, counts, _ = notes[database.name]
        print(f"dev.py:   {database.label:<11} {note}", flush=True)
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
    failed = bool(total.get("failed") or total.get("errors"))
    seconds = sum(n[2] for n in notes.values())
    wall = f" (side by side: {time.monotonic() - started:.1f}s)" if side_by_side else ""
    verdict = "FAILED" if failed else "ok"
    print(f"dev.py:   {'total':<11} {verdict}: {describe_counts(total)} in {seconds:.1f}s{wall}", flush=True)
    return 1 if failed else 0


def cmd_demo(args: argparse.Namespace, extra: list[str]) -> int:
    bin_dir = ensure_venv(args.python, args.django)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return run([str(bin_dir / "python"), str(ROOT / "manage.py"), "demo", *extra], env)


def cmd_lint(args: argparse.Namespace, extra: list[str]) -> int:
    bin_dir = ensure_venv(args.python, args.django)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    failures = run([str(bin_dir / "ruff"), "check", "djobs", "tests", "testproject", "bench"], env)
    failures |= run([str(bin_dir / "mypy")], env)
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["demo", "test", "lint", "clean"])
    parser.add_argument("--python", default=sys.executable, help="interpreter for the venv")
    parser.add_argument("--django", choices=sorted(DJANGO_PINS), help="pin a Django series")
    parser.add_argument(
        "--db",
        type=database_choice,
        default="all",
        help="all (default), or one or more of "
        + ", ".join(d.name for d in DATABASE_RUNS)
        + ", comma-separated",
    )
    parser.add_argument(
        "--serial",
        action="store_true",
        help="test: run the databases one after the other, output as it comes (default: side by side)",
    )
    parser.add_argument("--require-postgres", action="store_true", help="fail when PostgreSQL is unreachable")
    parser.add_argument("--no-install", action="store_true", help="use the existing venv as it is (no pip)")
    args, extra = parser.parse_known_args()
    global NO_INSTALL
    NO_INSTALL = args.no_install
    CHILDREN.install()
    if args.command == "clean":
        for venv in ROOT.glob(".venv*"):
            shutil.rmtree(venv)
        return 0
    return {"demo": cmd_demo, "test": cmd_test, "lint": cmd_lint}[args.command](args, extra)


if __name__ == "__main__":
    sys.exit(main())
