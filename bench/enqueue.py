"""Enqueue throughput: djobs beside the database's own ceiling, in the same run and database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/enqueue.py
    DATABASE_URL=mysql://root@127.0.0.1:3306/x .venv/bin/python bench/enqueue.py   # MySQL, MariaDB
    .venv/bin/python bench/enqueue.py            # SQLite file in /tmp

Prints jobs/s for:

- one enqueue per transaction (autocommit), beside a bare driver loop that
  inserts the same row and commits each (on PostgreSQL, psycopg, the
  statement prepared as djobs prepares its own);
- bulk ``enqueue_many`` of no-argument jobs (returning the Jobs, and with
  ``return_jobs=False``), beside a bare bulk load of the same rows: psycopg's
  COPY on PostgreSQL, ``executemany`` in one transaction elsewhere;
- a generator of ``--stream`` items through ``enqueue_many(..., return_jobs=False)``,
  in a child process, with its peak RSS (VmHWM; ``resource.getrusage`` off Linux).

The ratio column is djobs over the ceiling measured a moment before.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import bench_database_url, setup_django, timed, truncate_jobs, vendor

PATH = "bench.enqueue_jobs.nothing"
COLUMNS = ("state", "queue", "path", "args", "kwargs", "meta", "tags", "priority", "subpriority", "attempt",
           "max_attempts", "errors", "unique_states", "inserted_at", "scheduled_at")  # fmt: skip


def _row(now: Any, args: str) -> tuple[Any, ...]:
    return ("available", "default", PATH, args, "{}", "{}", "[]", 0, 0, 0, 20, "[]", 0, now, now)


def bare_single(n: int, *, notify: bool = False) -> None:
    """Insert ``n`` rows one statement and one commit each, through the driver alone."""
    from django.db import connection
    from django.utils import timezone

    now = timezone.now()
    connection.ensure_connection()
    raw = connection.connection
    marks = (
        ", ".join(["%s"] * len(COLUMNS)) if connection.vendor != "sqlite" else ", ".join("?" * len(COLUMNS))
    )
    sql = f"INSERT INTO djobs_job ({', '.join(COLUMNS)}) VALUES ({marks})"
    if connection.vendor == "postgresql":
        import psycopg

        statement = sql + " RETURNING id"
        if notify:  # what djobs sends with each single enqueue
            statement = (
                f"WITH ins AS ({statement}) SELECT ins.id, pg_notify('bench_enqueue', 'default') FROM ins"
            )
        # Prepared, as djobs prepares its own insert: the ceiling is the database's.
        saved, raw.prepare_threshold = raw.prepare_threshold, 0
        try:
            with psycopg.Cursor(raw) as cursor:
                for i in range(n):
                    cursor.execute(statement, _row(now, f"[{i},{i}]"), prepare=True)
                    cursor.fetchone()
        finally:
            raw.prepare_threshold = saved
        return
    if connection.vendor == "sqlite":
        now_text = connection.ops.adapt_datetimefield_value(now)
        for i in range(n):
            raw.execute(sql, _row(now_text, f"[{i},{i}]"))  # autocommit: each is its own transaction
        return
    cursor = raw.cursor()
    for i in range(n):
        cursor.execute(sql, _row(now, f"[{i},{i}]"))
        raw.commit()


def bare_bulk(n: int) -> None:
    """Load ``n`` no-argument rows as fast as the driver can: COPY on PostgreSQL, else executemany."""
    from django.db import connection, transaction
    from django.utils import timezone

    now = timezone.now()
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        line = "\t".join(str(v) for v in _row(now.isoformat(), "[]")) + "\n"
        sql = f"COPY djobs_job ({', '.join(COLUMNS)}) FROM STDIN"
        with connection.cursor() as cursor, transaction.atomic(), cursor.cursor.copy(sql) as copy:
            for start in range(0, n, 20_000):
                copy.write("".join([line for _ in range(min(20_000, n - start))]))
        return
    adapted = connection.ops.adapt_datetimefield_value(now)
    marks = ", ".join(["%s"] * len(COLUMNS))
    sql = f"INSERT INTO djobs_job ({', '.join(COLUMNS)}) VALUES ({marks})"
    with connection.cursor() as cursor, transaction.atomic():
        for start in range(0, n, 2000):
            cursor.executemany(sql, [_row(adapted, "[]") for _ in range(min(2000, n - start))])


def peak_rss_mb() -> float:
    """Return this process's peak RSS in MB.

    VmHWM where Linux has it: ru_maxrss carries the parent's peak across fork
    and exec, so a child started by a big parent would report the parent's.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stream_child(n: int) -> None:
    """Run in a child process: enqueue a generator of ``n`` items; print seconds and peak RSS (JSON)."""
    # Django alone, no migrate (the parent did it): the peak is the enqueue's.
    os.environ["DATABASE_URL"] = bench_database_url("enqueue")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from bench.enqueue_jobs import nothing as noop
    from djobs.models import Job

    truncate_jobs()
    base = peak_rss_mb()
    try:
        seconds = timed(lambda: noop.enqueue_many((() for _ in range(n)), return_jobs=False))
    except TypeError:  # before return_jobs existed: the list of Jobs comes back
        seconds = timed(lambda: noop.enqueue_many(() for _ in range(n)))
    peak = peak_rss_mb()
    count = Job.objects.count()
    print(json.dumps({"seconds": seconds, "base_mb": base, "peak_mb": peak, "rows": count}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--single", type=int, default=3000, help="jobs for the one-by-one runs")
    parser.add_argument("--bulk", type=int, nargs="*", default=[100_000])
    parser.add_argument("--stream", type=int, default=1_000_000, help="generator items (0: skip)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each counts")
    parser.add_argument("--stream-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    # As in production: with DEBUG on, Django logs every query djobs sends (the
    # bare driver loops would not pay for it).
    os.environ.setdefault("DEBUG", "0")
    if args.stream_child:
        stream_child(args.stream_child)
        return
    setup_django("enqueue")

    from bench.enqueue_jobs import nothing as noop
    from tests.testapp.jobs import add

    print(f"database: {vendor()}; load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    rows: list[tuple[str, int, float, float | None]] = []

    def best(*cases: Callable[[], object]) -> list[float]:
        """Run each case once per round, interleaved (a loaded machine slows both alike); best of each."""
        times: list[list[float]] = [[] for _ in cases]
        for _ in range(args.rounds):
            for i, case in enumerate(cases):
                truncate_jobs()
                times[i].append(timed(case))
        return [min(t) for t in times]

    per_round = max(1, args.single // args.rounds)

    def one_by_one() -> None:
        for i in range(per_round):
            add.enqueue(i, i)  # autocommit: each in its own transaction

    if vendor() == "postgresql":
        djobs_s, bare_s, notify_s = best(
            one_by_one, lambda: bare_single(per_round), lambda: bare_single(per_round, notify=True)
        )
    else:
        (djobs_s, bare_s), notify_s = best(one_by_one, lambda: bare_single(per_round)), None
    rows.append(("single, autocommit", per_round, djobs_s, bare_s))
    if notify_s:
        rows.append(("  same, ceiling with NOTIFY", per_round, djobs_s, notify_s))

    def count_only(items: list[tuple[()]]) -> None:
        try:
            noop.enqueue_many(items, return_jobs=False)
        except TypeError:  # before return_jobs existed
            noop.enqueue_many(items)

    for n in args.bulk:
        items = [()] * n
        returned_s, count_s, bare_s = best(
            lambda items=items: noop.enqueue_many(items),
            lambda items=items: count_only(items),
            lambda n=n: bare_bulk(n),
        )
        rows.append((f"bulk {n:,}, jobs returned", n, returned_s, bare_s))
        rows.append((f"bulk {n:,}, return_jobs=False", n, count_s, bare_s))
    truncate_jobs()

    print(f"{'case':<32}{'djobs jobs/s':>14}{'ceiling jobs/s':>16}{'ratio':>8}")
    for name, n, djobs_s, ceiling_s in rows:
        ceiling = f"{n / ceiling_s:>16,.0f}{ceiling_s / djobs_s:>8.2f}" if ceiling_s else ""
        print(f"{name:<32}{n / djobs_s:>14,.0f}{ceiling}")
    ceiling_name = (
        "psycopg insert+commit loop; COPY" if vendor() == "postgresql" else "driver loop; executemany"
    )
    print(f"(ceilings: {ceiling_name})")

    if args.stream:
        child = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--stream-child", str(args.stream)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"generator of {args.stream:,} (return_jobs=False): "
            f"{args.stream / result['seconds']:,.0f} jobs/s, "
            f"peak RSS {result['peak_mb']:.0f} MB (after setup {result['base_mb']:.0f} MB), "
            f"{result['rows']:,} rows"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
