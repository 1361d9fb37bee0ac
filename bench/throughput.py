"""Processing throughput: one ``runjobs --burst`` at concurrency 10 draining pre-inserted no-op jobs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/throughput.py
    DATABASE_URL=mysql://root@127.0.0.1:3306/x .venv/bin/python bench/throughput.py   # MySQL, MariaDB
    .venv/bin/python bench/throughput.py              # SQLite file in /tmp
    .venv/bin/python bench/throughput.py --jobs 20000 100000 --concurrency 10
    .venv/bin/python bench/throughput.py --jobs 20000 --rounds 5   # medians of 5 interleaved runs
    .venv/bin/python bench/throughput.py --otel   # OpenTelemetry SDK configured (djobs[otel] + sdk)
    DATABASE_URL=postgres://postgres@127.0.0.1:6432/x .venv/bin/python bench/throughput.py \
        --transaction-pooling                     # through PgBouncer (.ci/pgbouncer.sh)
    .venv/bin/python bench/throughput.py --concurrency 60 --global-limit 50   # a limited queue
    .venv/bin/python bench/throughput.py --concurrency 60 --global-limit 5 --partitions 100
    DATABASE_URL=postgres://... .venv/bin/python bench/throughput.py --jobs 20000 1000000   # 1M jobs

Prints, per run: jobs/s over the processing window (first claim to last
completion, from the rows), jobs/s over the whole process lifetime (start-up
included), and the worker process's peak RSS (VmHWM).

On PostgreSQL each run is preceded by its ceiling (bench/ceiling.py): a bare
psycopg loop that claims and completes the same number of jobs, in batches of
100 with SKIP LOCKED, on a table filled the same way; djobs' processing rate
is printed as a share of it. ``--no-ceiling`` leaves it out.

The table is filled in SQL (bench.common.fill_jobs: one enqueued job copied
n - 1 times), so a million jobs take seconds; ``--fill enqueue`` goes through
``enqueue_many`` in chunks of 10,000 instead (always so with ``--partitions``).
Nothing vacuums the table during a run (the machine's PostgreSQL may run
without autovacuum): each run starts from a TRUNCATE.

With ``--otel`` both this process (the enqueue) and the worker configure an
OpenTelemetry SDK tracer provider whose BatchSpanProcessor hands spans to an
exporter that drops them: every job then gets a trace context in its meta and
a span per execution, and the figure is their cost minus the network export.

With ``--global-limit N`` the queue has ``global_limit: N`` (claims go through
the limited claim, djobs.db.flow); with ``--partitions P`` as well, the jobs
are ``add(i % P, 0)`` on a queue with ``partition_by: ["a"]``, so the limit
applies to each of P partitions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.ceiling import claim_complete
from bench.common import ROOT, analyze, fill_jobs, setup_django, truncate_jobs, vendor


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# Runs manage.py with an OpenTelemetry SDK provider configured (``--otel``).
OTEL_BOOT = """
import runpy, sys
sys.path.insert(0, sys.argv[1])
from bench.throughput import configure_otel
configure_otel()
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def configure_otel() -> None:
    """Install an SDK tracer provider exporting, in batches, to nowhere."""
    from collections.abc import Sequence

    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)


def run_worker(
    concurrency: int, timeout: float, otel: bool = False, metrics_port: int | None = None
) -> tuple[float, float | None, int]:
    env = {**os.environ, "DEBUG": "False", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    boot = ["-c", OTEL_BOOT, str(ROOT)] if otel else []
    process = subprocess.Popen(
        [
            sys.executable,
            *boot,
            str(ROOT / "manage.py"),
            "runjobs",
            "--burst",
            "--queue",
            f"bench={concurrency}",
            *(["--metrics-port", str(metrics_port)] if metrics_port else []),
        ],
        cwd=ROOT,
        env=env,
    )
    peak = None
    while process.poll() is None:
        peak = peak_rss_mb(process.pid) or peak
        if time.perf_counter() - start > timeout:
            process.kill()
            break
        time.sleep(0.05)
    return time.perf_counter() - start, peak, process.wait()


def fill(n: int, args: argparse.Namespace) -> None:
    """Empty the table and insert ``n`` jobs of the queue "bench", then refresh the statistics."""
    from tests.testapp.jobs import add
    from tests.testapp.worker_jobs import noop

    truncate_jobs()
    if args.partitions:
        for start in range(0, n, 10_000):
            count = min(10_000, n - start)
            add.using(queue="bench").enqueue_many([((start + i) % args.partitions, 0) for i in range(count)])
    elif args.fill == "enqueue":
        for start in range(0, n, 10_000):
            noop.using(queue="bench").enqueue_many([() for _ in range(min(10_000, n - start))])
    else:
        fill_jobs(n, noop.using(queue="bench").enqueue)
    # Fresh statistics, as autovacuum would gather within a minute of a bulk
    # insert: with stats from an empty table, PostgreSQL plans the claim with a
    # sort of every available row instead of walking the claim index.
    analyze()


def run_atomic(n: int, args: argparse.Namespace) -> float:
    """Fill ``n`` atomic no-op jobs (one commit each, fenced in it), run them; return jobs/s processing."""
    from django.db.models import Max, Min

    from djobs.models import Job
    from tests.testapp.atomic_jobs import noop

    truncate_jobs()
    for start in range(0, n, 10_000):
        noop.using(queue="bench").enqueue_many([() for _ in range(min(10_000, n - start))])
    analyze()
    # The job threads query the database: they keep their connections (CONN_MAX_AGE),
    # as a deployment would, instead of connecting once per job.
    url = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = url + ("&" if "?" in url else "?") + "conn_max_age=600"
    try:
        _wall, _peak, status = run_worker(args.concurrency, args.timeout, args.otel, args.metrics_port)
    finally:
        os.environ["DATABASE_URL"] = url
    done = Job.objects.filter(queue="bench", state="completed").count()
    window = Job.objects.filter(queue="bench").aggregate(a=Min("attempted_at"), f=Max("finished_at"))
    seconds = (window["f"] - window["a"]).total_seconds() if window["f"] else float("nan")
    print(
        f"{n:>7} jobs: {done / seconds:>8.0f} jobs/s processing ({seconds:.2f} s) atomic, "
        f"completed {done}/{n}, exit {status}"
    )
    return done / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, nargs="*", default=[20_000, 100_000])
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--otel", action="store_true", help="Trace enqueues and runs (OpenTelemetry SDK).")
    parser.add_argument("--metrics-port", type=int, help="Serve the worker's Prometheus metrics there.")
    parser.add_argument("--name", default="throughput", help="Database suffix (djobs_bench_<name>).")
    parser.add_argument(
        "--transaction-pooling",
        action="store_true",
        help="DJOBS['TRANSACTION_POOLING'] on, for a DATABASE_URL through PgBouncer in transaction mode.",
    )
    parser.add_argument("--global-limit", type=int, help="The queue's global_limit (a limited queue).")
    parser.add_argument(
        "--partitions", type=int, help="partition_by over this many values (needs --global-limit)."
    )
    parser.add_argument(
        "--fill",
        choices=["sql", "enqueue"],
        default="sql",
        help="How the jobs are inserted: copies of one enqueued row in SQL (fast), or enqueue_many.",
    )
    parser.add_argument("--no-ceiling", action="store_true", help="Skip the bare psycopg ceiling.")
    parser.add_argument(
        "--rounds", type=int, default=1, help="Run every size this many times (interleaved); print medians."
    )
    parser.add_argument("--atomic", action="store_true", help="Also run atomic no-op jobs; print the ratio.")
    args = parser.parse_args()
    if args.global_limit:
        flow: dict[str, object] = {"concurrency": args.concurrency, "global_limit": args.global_limit}
        if args.partitions:
            flow["partition_by"] = ["a"]
        os.environ["BENCH_FLOW_QUEUE"] = json.dumps(flow)
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.flow_settings"
    if args.transaction_pooling:
        # Read by this process and the runjobs it starts.
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.pooling_settings"
    url = setup_django(args.name)
    if args.otel:
        configure_otel()

    from django.db.models import Max, Min

    from djobs.conf import get_settings as djobs_settings
    from djobs.models import Job

    traced = ", OpenTelemetry spans" if args.otel else ""
    traced += ", TRANSACTION_POOLING" if args.transaction_pooling else ""
    if args.global_limit:
        traced += f", global_limit {args.global_limit}"
        traced += f" per partition of {args.partitions}" if args.partitions else ""
    print(f"database: {vendor()}, concurrency {args.concurrency}, one runjobs process{traced}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ceiling = not args.no_ceiling and vendor() == "postgresql"
    seen: dict[int, list[tuple[float, float]]] = {}
    for n in [n for _ in range(args.rounds) for n in args.jobs]:
        bare = float("nan")
        if ceiling:
            fill(n, args)
            done, seconds = claim_complete(
                url,
                "bench",
                synchronous_commit=not djobs_settings().ASYNC_COMMIT,
                prepare=not args.transaction_pooling,
            )
            bare = done / seconds
            print(
                f"{n:>7} jobs: {bare:>8.0f} jobs/s bare claim+complete ceiling "
                f"({seconds:.2f} s, batches of 100)"
            )
        fill(n, args)
        wall, peak, status = run_worker(args.concurrency, args.timeout, args.otel, args.metrics_port)
        done = Job.objects.filter(queue="bench", state="completed").count()
        window = Job.objects.filter(queue="bench").aggregate(a=Min("attempted_at"), f=Max("finished_at"))
        seconds = (window["f"] - window["a"]).total_seconds() if window["f"] else float("nan")
        peak_text = f"{peak:.1f} MB" if peak else "n/a"
        share = f" = {done / seconds / bare:.0%} of the ceiling" if ceiling else ""
        print(
            f"{n:>7} jobs: {done / seconds:>8.0f} jobs/s processing ({seconds:.2f} s){share}, "
            f"{done / wall:>8.0f} jobs/s with start-up ({wall:.2f} s), peak RSS {peak_text}, "
            f"completed {done}/{n}, exit {status}"
        )
        seen.setdefault(n, []).append((bare, done / seconds))
        if args.atomic:
            print(f"{n:>7} jobs: atomic / plain = {run_atomic(n, args) / (done / seconds):.0%}")
    if args.rounds > 1:
        print(f"medians of {args.rounds} rounds (load average now {os.getloadavg()[0]:.2f}):")
        for n, runs in seen.items():
            rate = statistics.median(r for _, r in runs)
            line = f"{n:>7} jobs: {rate:>8.0f} jobs/s processing"
            if ceiling:
                line += (
                    f", ceiling {statistics.median(b for b, _ in runs):.0f} jobs/s,"
                    f" share {statistics.median(r / b for b, r in runs):.0%}"
                )
            print(line)
    truncate_jobs()


if __name__ == "__main__":
    main()
