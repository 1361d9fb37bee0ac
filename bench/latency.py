"""Pickup latency: an idle ``runjobs``, 200 jobs enqueued 50 ms apart, time until each starts.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/latency.py
    DATABASE_URL=mysql://root@127.0.0.1:3306/x .venv/bin/python bench/latency.py   # MySQL, MariaDB
    .venv/bin/python bench/latency.py                 # SQLite file in /tmp (polling)
    .venv/bin/python bench/latency.py --jobs 200 --gap 0.05

Each job returns ``time.time()`` when its function starts. Prints p50/p95/max
in ms measured from just before the enqueue call, and from just after it
returned (the commit) to the job's start.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import ROOT, percentile, setup_django, truncate_jobs, vendor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between enqueues")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--name", default="latency", help="Database suffix (djobs_bench_<name>).")
    args = parser.parse_args()
    setup_django(args.name)

    from djobs.models import Job, WorkerProcess
    from tests.testapp.worker_jobs import start_time

    truncate_jobs()
    env = {**os.environ, "DEBUG": "False", "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "runjobs", "--queue", f"latency={args.concurrency}"],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while not WorkerProcess.objects.exists():
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not start in 30 s")
            time.sleep(0.1)
        time.sleep(1.0)  # let it settle into its idle wait
        idle = idle_queries_per_second() if vendor() == "mysql" else None
        probe = start_time.using(queue="latency")
        sent: dict[int, tuple[float, float]] = {}
        for _ in range(args.jobs):
            before = time.time()
            job = probe.enqueue()
            sent[job.id] = (before, time.time())
            time.sleep(args.gap)
        deadline = time.monotonic() + 30
        while Job.objects.filter(queue="latency").exclude(state="completed").exists():
            if time.monotonic() > deadline:
                raise SystemExit("jobs did not complete in 30 s")
            time.sleep(0.1)
    finally:
        worker.terminate()
        worker.wait(30)
    from_call, from_commit = [], []
    for pk, started in Job.objects.filter(queue="latency").values_list("id", "result"):
        before, committed = sent[pk]
        from_call.append((started - before) * 1000)
        from_commit.append((started - committed) * 1000)
    print(f"database: {vendor()}, {args.jobs} jobs {args.gap * 1000:.0f} ms apart, idle worker")
    for label, values in (("from enqueue call", from_call), ("from commit", from_commit)):
        print(
            f"  {label:<18} p50 {percentile(values, 50):6.2f} ms   p95 {percentile(values, 95):6.2f} ms"
            f"   max {max(values):6.2f} ms"
        )
    if idle is not None:
        print(f"  idle worker's polling: {idle:.1f} queries/s; {poll_cost()}")
    truncate_jobs()


def idle_queries_per_second(seconds: float = 5.0) -> float:
    """Return the statements per second the server runs while the worker idles (MySQL).

    The server's whole count, minus this connection's two status reads: the
    idle worker's change-counter polls and its heartbeats.
    """
    from django.db import connection

    def questions() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SHOW GLOBAL STATUS LIKE 'Questions'")
            return int(cursor.fetchone()[1])

    before = questions()
    time.sleep(seconds)
    return (questions() - before - 1) / seconds


def poll_cost(rows: int = 200_000, runs: int = 2000) -> str:
    """Time the change-counter poll over ``rows`` finished jobs and a backlog in another queue."""
    from django.db import connection

    from djobs.db import get_ops
    from djobs.db.change_counter import _CHANGE_SQL
    from tests.testapp.worker_jobs import noop

    truncate_jobs()
    with connection.cursor() as cursor:
        cap = "max_recursive_iterations" if connection.mysql_is_mariadb else "cte_max_recursion_depth"
        cursor.execute(f"SET SESSION {cap} = %s", [rows + 1])
        cursor.execute(
            """INSERT INTO djobs_job (state, queue, path, args, kwargs, meta, tags, priority, attempt,
                   max_attempts, errors, unique_states, inserted_at, scheduled_at, finished_at)
               SELECT 'completed', 'latency', 'x', '[]', '{}', '{}', '[]', 0, 1, 1, '[]', 0,
                   UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)
               FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s)
                     SELECT i FROM n) AS numbers""",
            [rows],
        )
    noop.using(queue="elsewhere").enqueue_many([() for _ in range(1000)])
    get_ops()  # the statement below is the one MySQLOps.change_counter runs
    with connection.cursor() as cursor:
        start = time.perf_counter()
        for _ in range(runs):
            cursor.execute(_CHANGE_SQL)
            cursor.fetchall()
        took = (time.perf_counter() - start) / runs
    return f"one poll (round trip) {took * 1000:.3f} ms over {rows:,} finished and 1,000 waiting jobs"


if __name__ == "__main__":
    main()
