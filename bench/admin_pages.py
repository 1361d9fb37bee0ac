"""Admin pages on a table of millions of jobs: server time per page, with the Django test Client.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/admin_pages.py
    ... bench/admin_pages.py --rows 10000000 --runs 15 --refill
    ... bench/admin_pages.py --rows 10000000 --only "queue|reports"   # the pages whose name matches

Fills ``djobs_bench_admin_pages`` (``djobs_bench_admin_pages_<rows>`` for
another size than the default million, so both sizes stay for the next run)
with INSERT ... SELECT generate_series, a million rows per statement with the
secondary indexes dropped and built once after (10M rows: about two minutes):
a realistic day: 85% completed over the last 24 hours, a backlog of available
jobs, retries, failures with tracebacks, 200 batches, and a rare queue
(``reports``, one job in 4,999, in every state) beside four common ones, and
cancelled jobs only in the first fifth of the day (a mass cancellation: a
state whose jobs are all older than millions of others). It VACUUM ANALYZEs the
table, then renders each page ``--runs`` times after one warm-up and prints
the median and the worst server time, the median CPU time of the request in
this process and of its SQL (both less sensitive to a busy machine), the
number of queries and whether any of them counted the whole table. The target
is 200 ms of server time per page at 10M rows.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import setup_django

PATHS = [
    "tests.testapp.jobs.add",
    "tests.testapp.jobs.send_email",
    "tests.testapp.jobs.echo",
    "tests.testapp.jobs.sync_user",
    "testproject.demo.jobs.send_welcome",
    "testproject.demo.jobs.flaky",
]

# One statement: state by a fixed distribution, times over the last day, a
# tenth of the jobs in one of 200 batches, errors on failed jobs.
FILL_SQL = """
INSERT INTO djobs_job (state, queue, path, args, kwargs, meta, tags, priority, attempt,
    max_attempts, errors, result, unique_key, unique_states, inserted_at, scheduled_at,
    attempted_at, finished_at, worker_id)
SELECT s.state,
       CASE WHEN g %% 4999 = 7 THEN 'reports'
            ELSE (ARRAY['default','default','emails','payments','backfill'])[1 + (g %% 5)] END,
       (%(paths)s::text[])[1 + (g %% %(npaths)s)],
       jsonb_build_array(g, 'customer-' || g),
       jsonb_build_object('locale', 'fr'),
       CASE WHEN g %% 10 = 0 THEN jsonb_build_object('batch_id', (%(batches)s::text[])[1 + (g / 10) %% 200])
            ELSE '{}'::jsonb END,
       '[]'::jsonb,
       g %% 10,
       CASE WHEN s.state IN ('available', 'scheduled') THEN 0 ELSE 1 END,
       20,
       CASE WHEN s.state IN ('discarded', 'retryable') THEN jsonb_build_array(jsonb_build_object(
            'attempt', 1, 'at', now()::text, 'error', 'KeyError: ''sku-' || g || '''',
            'traceback', 'Traceback (most recent call last):\n  File "shop/jobs.py", line 12, in charge\n'
                         || '    sku = order["sku"]\nKeyError: ''sku-' || g || ''''))
            ELSE '[]'::jsonb END,
       CASE WHEN s.state = 'completed' THEN to_jsonb(g) ELSE NULL END,
       NULL, 0,
       s.at - interval '2 seconds',
       CASE WHEN s.state = 'scheduled' THEN now() + (g %% 3600) * interval '1 second'
            WHEN s.state = 'retryable' THEN now() + (g %% 600) * interval '1 second'
            ELSE s.at - interval '1 second' END,
       CASE WHEN s.state IN ('available', 'scheduled') THEN NULL ELSE s.at - interval '300 ms' END,
       CASE WHEN s.state IN ('completed', 'discarded', 'cancelled') THEN s.at ELSE NULL END,
       CASE WHEN s.state = 'executing' THEN 'bench-worker-' || (g %% 4) ELSE NULL END
FROM generate_series(1, %(rows)s) AS g
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN g %% 1000 < 850 THEN 'completed'
        WHEN g %% 1000 < 880 THEN 'discarded'
        WHEN g %% 1000 < 890 THEN CASE WHEN g <= %(rows)s / 5 THEN 'cancelled' ELSE 'completed' END
        WHEN g %% 1000 < 940 THEN 'available'
        WHEN g %% 1000 < 970 THEN 'scheduled'
        WHEN g %% 1000 < 990 THEN 'retryable'
        ELSE 'executing' END AS state,
    now() - ((%(rows)s - g) * interval '86400 seconds' / %(rows)s) AS at
) AS s
"""


# Rows per INSERT: each statement commits, so a long fill shows progress and
# never holds one huge transaction.
FILL_CHUNK = 1_000_000


def _insert_jobs(rows: int, batches: list[str]) -> None:
    """Insert the jobs with the secondary indexes dropped, then build them once (minutes at 10M)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'djobs_job' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'djobs_job'::regclass)"
        )
        indexes = cursor.fetchall()
        cursor.execute("SET synchronous_commit = off")
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        try:
            for first in range(1, rows + 1, FILL_CHUNK):
                last = min(first + FILL_CHUNK - 1, rows)
                sql = FILL_SQL.replace("generate_series(1, %(rows)s)", "generate_series(%(first)s, %(last)s)")
                params = {"paths": PATHS, "npaths": len(PATHS), "batches": batches, "rows": rows}
                cursor.execute(sql, {**params, "first": first, "last": last})
                print(f"  {last:,} rows", flush=True)
        finally:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            for name, definition in indexes:
                started = time.perf_counter()
                cursor.execute(definition)
                print(f"  index {name}: {time.perf_counter() - started:.1f} s", flush=True)


def fill(rows: int) -> None:
    import uuid
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from djobs.models import Batch, Job, PeriodicSchedule, WorkerProcess

    print(f"filling {rows:,} jobs...", flush=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE djobs_job, djobs_batch, djobs_worker, djobs_periodic_schedule")
    batches = [str(uuid.uuid4()) for _ in range(200)]
    Batch.objects.bulk_create(
        Batch(id=b, description=f"bench batch {i}", state=Batch.State.RUNNING if i < 20 else "finished",
              size=rows // 2000, counts={} if i < 20 else {"completed": rows // 2000})
        for i, b in enumerate(batches)
    )  # fmt: skip
    _insert_jobs(rows, batches)
    now = timezone.now()
    WorkerProcess.objects.bulk_create(
        WorkerProcess(id=f"bench-worker-{i}", hostname="bench", pid=100 + i, queues={"default": 10},
                      heartbeat_at=now) for i in range(4)
    )  # fmt: skip
    PeriodicSchedule.objects.bulk_create(
        PeriodicSchedule(name=f"bench-{i}", cron=f"{i} * * * *", path=PATHS[0], args=[1, 2],
                         next_run_at=now.replace(minute=i, second=0) + timedelta(hours=1))
        for i in range(5)
    )  # fmt: skip
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE djobs_job")
    print(f"filled in {time.perf_counter() - started:.1f} s; {Job.objects.count():,} rows", flush=True)


TARGET_MS = 200
DELETE_ACROSS: dict[str, object] = {
    "action": "delete_jobs",
    "select_across": "1",
    "index": "0",
    "_selected_action": ["1"],
}
RARE_QUEUE = "reports"
STATES = [
    "available",
    "scheduled",
    "executing",
    "retryable",
    "completed",
    "discarded",
    "cancelled",
    "waiting",
]


def _workflow() -> str:
    """Return the id of a small workflow, enqueued once (three steps, two of them waiting)."""
    from djobs.models import Workflow
    from djobs.workflows import chain
    from tests.testapp.jobs import add

    existing = Workflow.objects.values_list("id", flat=True).first()
    if existing is None:
        workflow = chain(add.new(1, 2), add.new(3, 4), add.new(5, 6), name="bench workflow")
        workflow.enqueue()
        existing = workflow.id
    return str(existing)


def _schedule() -> int:
    from djobs.models import PeriodicSchedule

    return int(PeriodicSchedule.objects.order_by("pk").values_list("pk", flat=True)[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--refill", action="store_true", help="drop and refill the jobs")
    parser.add_argument("--only", help="time only the pages whose name matches this regular expression")
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/djobs")
    # One database per size, so 1M and 10M can be measured in turn without refilling.
    setup_django("admin_pages" if args.rows == 1_000_000 else f"admin_pages_{args.rows}", fresh=args.refill)

    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from djobs.models import Batch, Job

    if connection.vendor != "postgresql":
        sys.exit("bench/admin_pages.py measures PostgreSQL; set DATABASE_URL=postgres://...")
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'djobs_job'")
        (estimate,) = cursor.fetchone()
    if args.refill or abs(estimate - args.rows) > args.rows * 0.01:
        fill(args.rows)
    else:
        print(f"reusing {estimate:,} jobs (--refill to rebuild)")

    user, _ = User.objects.get_or_create(username="bench", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    discarded = Job.objects.filter(state="discarded").order_by("-id").values_list("id", flat=True)[:1][0]
    batch = Batch.objects.filter(state="running").values_list("id", flat=True)[:1][0]
    workflow = _workflow()
    jobs, rare, common = "/admin/djobs/job/", f"queue={RARE_QUEUE}", "queue=default"
    pages: dict[str, str | tuple[str, dict[str, object]]] = {
        "job list": jobs,
        "job list, oldest first": f"{jobs}?o=1",
        "job list, newest first": f"{jobs}?o=-1",
        "job list, page 50": f"{jobs}?p=50",
        "job list, last page (200)": f"{jobs}?p=200",
        # Every filter alone: each state, a rare and a common queue, a job, a batch.
        **{f"state: {state}": f"{jobs}?state__exact={state}" for state in STATES},
        f"queue: {RARE_QUEUE} (rare)": f"{jobs}?{rare}",
        f"queue: {RARE_QUEUE}, page 2": f"{jobs}?{rare}&p=2",
        f"queue: {RARE_QUEUE}, oldest first": f"{jobs}?{rare}&o=1",
        "queue: default (common)": f"{jobs}?{common}",
        "queue: default, page 50": f"{jobs}?{common}&p=50",
        "queue: default, oldest first": f"{jobs}?{common}&o=1",
        "queue: unknown (empty)": f"{jobs}?queue=nowhere",
        "job (path)": f"{jobs}?path={PATHS[1]}",
        "batch": f"{jobs}?batch={batch}",
        # Filters combined.
        f"{RARE_QUEUE}+completed": f"{jobs}?{rare}&state__exact=completed",
        f"{RARE_QUEUE}+available": f"{jobs}?{rare}&state__exact=available",
        f"{RARE_QUEUE}+executing": f"{jobs}?{rare}&state__exact=executing",
        "emails+available": f"{jobs}?queue=emails&state__exact=available",
        "default+discarded": f"{jobs}?{common}&state__exact=discarded",
        "default+cancelled, oldest": f"{jobs}?{common}&state__exact=cancelled&o=1",
        "path+completed": f"{jobs}?path={PATHS[1]}&state__exact=completed",
        f"path+{RARE_QUEUE}": f"{jobs}?path={PATHS[2]}&{rare}",
        "path+default": f"{jobs}?path={PATHS[2]}&{common}",
        "batch+discarded": f"{jobs}?batch={batch}&state__exact=discarded",
        "batch+default": f"{jobs}?batch={batch}&{common}",
        # The search box, alone and with filters.
        "search: id": f"{jobs}?q={discarded}",
        "search: path": f"{jobs}?q=send_email",
        "search: path+rare queue": f"{jobs}?q=echo&{rare}",
        "search: argument text": f"{jobs}?q=customer-999999",
        "search: argument, many hits": f"{jobs}?q=customer-99",
        "search: argument+rare queue": f"{jobs}?q=customer-99&{rare}",
        # The other pages.
        "job detail": f"{jobs}{discarded}/change/",
        "dashboard": "/admin/djobs/dashboard/",
        "dashboard JSON": "/admin/djobs/dashboard/data.json",
        "batch list": "/admin/djobs/batch/",
        "batch detail": f"/admin/djobs/batch/{batch}/change/",
        "workflow list": "/admin/djobs/workflow/",
        "workflow detail": f"/admin/djobs/workflow/{workflow}/change/",
        "schedule list": "/admin/djobs/periodicschedule/",
        "schedule detail": f"/admin/djobs/periodicschedule/{_schedule()}/change/",
        "worker list": "/admin/djobs/workerprocess/",
        # The delete action across a filtered list asks first, with the count (nothing is deleted).
        f"delete? all of {RARE_QUEUE}": (f"{jobs}?{rare}", DELETE_ACROSS),
        "delete? all cancelled": (f"{jobs}?state__exact=cancelled", DELETE_ACROSS),
    }
    if args.only:
        pages = {name: url for name, url in pages.items() if re.search(args.only, name)}
    full_count = re.compile(r'SELECT COUNT\(\*\) AS "__count" FROM "djobs_job"\s*$', re.I)
    # wall: the server time of the request; cpu: this process's CPU time in it (what a
    # busy machine does not inflate); sql: the database time of its queries.
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"\n{'page':<32} {'wall ms':>8} {'max ms':>8} {'cpu ms':>7} {'sql ms':>7} {'queries':>8}"
        "  full COUNT(*)"
    )
    slow = []

    def render(page: str | tuple[str, dict[str, object]]) -> Any:
        return client.get(page) if isinstance(page, str) else client.post(page[0], page[1])

    for name, url in pages.items():
        response = render(url)
        assert response.status_code == 200, (name, response.status_code)
        walls, cpus, sqls = [], [], []
        for _ in range(args.runs):
            with CaptureQueriesContext(connection) as queries:
                started, cpu_started = time.perf_counter(), time.process_time()
                response = render(url)
                walls.append((time.perf_counter() - started) * 1000)
                cpus.append((time.process_time() - cpu_started) * 1000)
            sqls.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
        counted = any(full_count.search(q["sql"]) for q in queries.captured_queries)
        print(
            f"{name:<32} {statistics.median(walls):>8.1f} {max(walls):>8.1f} {statistics.median(cpus):>7.1f} "
            f"{statistics.median(sqls):>7.1f} {len(queries.captured_queries):>8}"
            f"  {'YES' if counted else 'no'}",
            flush=True,
        )
        if statistics.median(walls) > TARGET_MS:
            slow.append(name)
    print(f"\nover {TARGET_MS} ms (median): {', '.join(slow) or 'none'}")


if __name__ == "__main__":
    main()
