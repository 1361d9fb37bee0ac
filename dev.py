#!/usr/bin/env python3
"""Set up and run djobs from a fresh clone: ``python3 dev.py demo`` or ``python3 dev.py test``.

Only Python and git are needed: the script makes a virtual environment in
``.venv`` (or ``.venv-<python>-django<version>``), installs the project with its
development dependencies and runs the command.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/djobs"
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


def postgres_reachable(url: str) -> bool:
    from urllib.parse import urlparse

    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2):
            return True
    except OSError:
        return False


def run(cmd: list[str], env: dict[str, str]) -> int:
    print("dev.py: $", " ".join(cmd), flush=True)
    return subprocess.run(cmd, env=env, cwd=ROOT).returncode


def cmd_test(args: argparse.Namespace, extra: list[str]) -> int:
    bin_dir = ensure_venv(args.python, args.django)
    base_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base_env.pop("DATABASE_URL", None)
    pytest = [str(bin_dir / "python"), "-m", "pytest", *extra]
    failures = 0
    if args.db in ("all", "sqlite"):
        failures += run(pytest, {**base_env, "DATABASE_URL": "sqlite:///djobs-test.sqlite3"}) != 0
    if args.db in ("all", "postgres"):
        pg_url = os.environ.get("DJOBS_TEST_POSTGRES_URL", DEFAULT_PG_URL)
        if postgres_reachable(pg_url):
            env = {**base_env, "DATABASE_URL": pg_url, "DJOBS_REQUIRE_POSTGRES": "1"}
            failures += run(pytest, env) != 0
        elif args.require_postgres or os.environ.get("CI"):
            print(f"dev.py: PostgreSQL at {pg_url} is not reachable; its tests could not run.")
            failures += 1
        else:
            print(f"dev.py: PostgreSQL at {pg_url} is not reachable; skipped its run.")
    return 1 if failures else 0


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
    parser.add_argument("--db", choices=["all", "sqlite", "postgres"], default="all")
    parser.add_argument(
        "--require-postgres", action="store_true", help="fail when PostgreSQL is unreachable"
    )
    args, extra = parser.parse_known_args()
    if args.command == "clean":
        for venv in ROOT.glob(".venv*"):
            shutil.rmtree(venv)
        return 0
    return {"demo": cmd_demo, "test": cmd_test, "lint": cmd_lint}[args.command](args, extra)


if __name__ == "__main__":
    sys.exit(main())
