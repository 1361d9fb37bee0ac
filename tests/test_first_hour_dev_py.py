"""``dev.py test``: each database's run is labelled, and one summary line per database and a total end it."""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
ONE_TEST = ["tests/test_pure_core.py", "-q", "-p", "no:randomly", "-k", "backoff_without_jitter"]


@functools.cache
def _dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("djobs_dev_py", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def dev_test(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "DATABASE_URL")}
    # The nested pytest gets test databases of its own, beside this run's.
    environ["DJOBS_TEST_ID"] = f"{os.environ.get('DJOBS_TEST_ID', 'main')}-nested"
    return subprocess.run(
        [sys.executable, str(ROOT / "dev.py"), "test", "--no-install", *args],
        env={**environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("===== 756 passed, 3 skipped in 90.12s (0:01:30) =====", ({"passed": 756, "skipped": 3}, 90.12)),
        ("1 failed, 2 passed, 1 error in 0.50s", ({"failed": 1, "passed": 2, "errors": 1}, 0.5)),
        ("\x1b[32m==== \x1b[1m4 passed\x1b[0m in 1.00s ====\x1b[0m", ({"passed": 4}, 1.0)),
        ("tests/test_x.py::test_done_in_1s PASSED", None),
    ],
)
def test_pytest_final_line_is_read_for_the_summary(line: str, expected: object) -> None:
    assert _dev().pytest_summary(line) == expected


def test_the_database_runs_are_a_list_sqlite_postgres_and_mariadb() -> None:
    dev = _dev()
    assert [run.name for run in dev.DATABASE_RUNS] == ["sqlite", "postgres", "mariadb"]
    [mariadb] = [run for run in dev.DATABASE_RUNS if run.name == "mariadb"]
    assert mariadb.default_url == "mysql://root@127.0.0.1:3306/djobs"


@pytest.mark.slow
def test_each_run_is_labelled_and_a_summary_per_database_and_a_total_ends_it() -> None:
    result = dev_test("--db", "sqlite", *ONE_TEST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dev.py: ===== SQLite: the suite on sqlite:///djobs-test.sqlite3 =====" in result.stdout
    tail = result.stdout.splitlines()[-3:]
    assert tail[0] == "dev.py: summary"
    assert tail[1].startswith("dev.py:   SQLite      ok: 1 passed, ") and "deselected in " in tail[1]
    assert tail[2].startswith("dev.py:   total       ok: 1 passed, "), tail


@pytest.mark.slow
def test_an_unreachable_database_is_skipped_locally_and_fails_under_ci() -> None:
    url = "postgres://postgres@127.0.0.1:1/none"
    unreachable = {"DJOBS_TEST_POSTGRES_URL": url}
    local = dev_test("--db", "postgres", *ONE_TEST, **unreachable)
    assert local.returncode == 0, local.stdout
    assert f"dev.py:   PostgreSQL  skipped: {url} is not reachable" in local.stdout
    in_ci = dev_test("--db", "postgres", *ONE_TEST, CI="true", **unreachable)
    assert in_ci.returncode == 1, in_ci.stdout
    assert f"dev.py:   PostgreSQL  FAILED: {url} is not reachable" in in_ci.stdout
    assert in_ci.stdout.splitlines()[-1].startswith("dev.py:   total       FAILED")


@pytest.mark.slow
def test_an_unreachable_mariadb_fails_under_ci_naming_its_url() -> None:
    on = dev_test("--db", "mariadb", *ONE_TEST, CI="true", DJOBS_TEST_MYSQL_URL="mysql://root@127.0.0.1:1/x")
    assert on.returncode == 1
    assert "dev.py:   MariaDB     FAILED: mysql://root@127.0.0.1:1/x is not reachable" in on.stdout


def test_db_takes_several_databases_and_refuses_an_unknown_one() -> None:
    dev = _dev()
    assert dev.database_choice("sqlite,postgres") == "sqlite,postgres"
    with pytest.raises(Exception, match="use all, or names among mariadb, postgres, sqlite"):
        dev.database_choice("sqlite,oracle")
