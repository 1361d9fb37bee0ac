"""Set-up shared by the benchmarks: a database of their own, migrated, and timing helpers.

Each benchmark takes DATABASE_URL (default: a SQLite file in /tmp) and uses a
database named for the benchmark so it never touches development data.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def bench_database_url(name: str) -> str:
    """Return DATABASE_URL with the database renamed to ``djobs_bench_<name>``."""
    url = os.environ.get("DATABASE_URL", f"sqlite:////tmp/djobs-bench-{name}.sqlite3")
    parts = urlparse(url)
    if parts.scheme.startswith(("postgres", "mysql", "mariadb")):
        return urlunparse(parts._replace(path=f"/djobs_bench_{name}"))
    return url


def setup_django(name: str, *, fresh: bool = True) -> str:
    """Point Django at the benchmark's database, create and migrate it; return its URL."""
    url = bench_database_url(name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["DJOBS_LOG_LEVEL"] = "WARNING"
    sys.path.insert(0, str(ROOT))
    parts = urlparse(url)
    if parts.scheme.startswith("postgres"):
        import psycopg

        admin = urlunparse(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            if fresh:
                conn.execute(f"DROP DATABASE IF EXISTS djobs_bench_{name} WITH (FORCE)")
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [f"djobs_bench_{name}"]
            ).fetchone()
            if not exists:
                conn.execute(f"CREATE DATABASE djobs_bench_{name}")
    elif parts.scheme.startswith(("mysql", "mariadb")):
        import MySQLdb

        conn = MySQLdb.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
        )
        try:
            cursor = conn.cursor()
            if fresh:
                cursor.execute(f"DROP DATABASE IF EXISTS djobs_bench_{name}")
            cursor.execute(
                f"CREATE DATABASE IF NOT EXISTS djobs_bench_{name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
        finally:
            conn.close()
    elif fresh and parts.path and Path(parts.path).exists():
        for suffix in ("", "-wal", "-shm"):
            Path(parts.path + suffix).unlink(missing_ok=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def vendor() -> str:
    from django.db import connection

    return connection.vendor


def timed(fn: Callable[[], object]) -> float:
    """Return the seconds ``fn`` took."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0-100) of ``values``."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def truncate_jobs() -> None:
    """Empty the jobs table; on PostgreSQL with TRUNCATE, leaving no dead rows behind.

    Runs after a DELETE would otherwise pay for the previous run's dead tuples
    (autovacuum may be slow, or off), and compare unequal conditions.
    """
    from django.db import connection

    from djobs.models import Job

    if connection.vendor in ("postgresql", "mysql"):
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE djobs_job")
    else:
        Job.objects.all().delete()


def analyze() -> None:
    """Refresh the planner's statistics of the jobs table (PostgreSQL, MySQL), as after a bulk load."""
    from django.db import connection

    if connection.vendor in ("postgresql", "mysql"):
        with connection.cursor() as cursor:
            if connection.vendor == "mysql":
                cursor.execute("ANALYZE TABLE djobs_job")
                cursor.fetchall()  # its report, one row per table
            else:
                cursor.execute("ANALYZE djobs_job")


def fill_jobs(n: int, enqueue_one: Callable[[], object]) -> None:
    """Insert ``n`` jobs fast: one through ``enqueue_one``, then n - 1 copies of its row in SQL.

    Copies are what enqueue would have written (the same columns and values,
    ids in insertion order), made with ``generate_series`` on PostgreSQL and a
    recursive CTE elsewhere: a million rows take seconds, not minutes.
    """
    from django.db import connection

    from djobs.models import Job

    enqueue_one()
    if n <= 1:
        return
    template = Job.objects.order_by("-id").values_list("id", flat=True).first()
    columns = ", ".join(
        f.column for f in Job._meta.concrete_fields if not f.primary_key and f.column != "unique_key"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            numbers = "generate_series(2, %s)"
        else:
            if connection.vendor == "mysql":
                cap = "max_recursive_iterations" if connection.mysql_is_mariadb else "cte_max_recursion_depth"
                cursor.execute(f"SET SESSION {cap} = %s", [n + 1])
            numbers = (
                "(WITH RECURSIVE s(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM s WHERE i < %s) "
                "SELECT i FROM s)"
            )
        cursor.execute(
            f"INSERT INTO djobs_job ({columns}) SELECT {columns} FROM djobs_job, {numbers} AS numbers "
            "WHERE djobs_job.id = %s",
            [n, template],
        )
