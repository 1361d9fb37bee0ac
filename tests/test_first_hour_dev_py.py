"""``dev.py test``: each database's run is labelled, and one summary line per database and a total end it.

Several databases run side by side, each in test databases of its own, and
each run's output is printed whole when it ends.
"""

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


def test_each_database_runs_in_test_databases_of_its_own() -> None:
    dev = _dev()
    base = {"PATH": "/bin", "DJOBS_TEST_ID": "outer"}
    ids = {run.name: run.environment(base, "ci")["DJOBS_TEST_ID"] for run in dev.DATABASE_RUNS}
    assert ids == {"sqlite": "ci-sqlite", "postgres": "ci-postgres", "mariadb": "ci-mariadb"}
    [postgres] = [run for run in dev.DATABASE_RUNS if run.name == "postgres"]
    assert postgres.environment(base, "ci")["DJOBS_REQUIRE_POSTGRES"] == "1"


@pytest.mark.slow
def test_runs_side_by_side_print_each_output_whole_and_are_counted(capfd: pytest.CaptureFixture[str]) -> None:
    def child(name: str, final: str) -> list[str]:
        # Lines a few tenths of a second apart: both runs write while the other does.
        code = (
            "import time\n"
            f"for i in range(3):\n    print('{name}', i, flush=True); time.sleep(0.2)\n"
            f"print('{final}')"
        )
        return [sys.executable, "-c", code]

    results = _dev().run_side_by_side(
        [
            ("== first", child("a", "1 failed, 2 passed in 0.60s"), dict(os.environ)),
            ("== second", child("b", "=== 3 passed, 1 skipped in 0.61s ==="), dict(os.environ)),
        ]
    )
    lines = capfd.readouterr().out.splitlines()
    for header, name in (("== first", "a"), ("== second", "b")):
        start = lines.index(header)
        assert lines[start + 1 : start + 4] == [f"{name} 0", f"{name} 1", f"{name} 2"], lines
    assert results == {
        "== first": (0, {"failed": 1, "passed": 2}, 0.6),
        "== second": (0, {"passed": 3, "skipped": 1}, 0.61),
    }


@pytest.mark.slow
def test_several_databases_run_side_by_side_and_one_summary_ends_them() -> None:
    if not _dev().server_reachable(_dev().DEFAULT_PG_URL) and not os.environ.get("CI"):
        pytest.skip("PostgreSQL is not reachable at " + _dev().DEFAULT_PG_URL)
    result = dev_test("--db", "sqlite,postgres", *ONE_TEST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dev.py: SQLite, PostgreSQL side by side" in result.stdout
    assert "dev.py: ===== PostgreSQL: the suite on postgres://" in result.stdout
    tail = result.stdout.splitlines()[-4:]
    assert tail[0] == "dev.py: summary"
    assert tail[1].startswith("dev.py:   SQLite      ok: 1 passed, ")
    assert tail[2].startswith("dev.py:   PostgreSQL  ok: 1 passed, ")
    assert tail[3].startswith("dev.py:   total       ok: 2 passed, ") and "(side by side: " in tail[3], tail
    serial = dev_test("--db", "sqlite,postgres", "--serial", *ONE_TEST)
    assert serial.returncode == 0, serial.stdout + serial.stderr
    assert "side by side" not in serial.stdout
