"""Async jobs: many sleeping jobs on one event loop, and no-op async against no-op sync throughput.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/async_jobs.py
    .venv/bin/python bench/async_jobs.py              # SQLite file in /tmp
    .venv/bin/python bench/async_jobs.py --sleepers 10000 --concurrency 500 --noops 20000

Part 1: ``--sleepers`` jobs that each ``await asyncio.sleep(0.1)``, drained by
one ``runjobs --burst --queue aio=<concurrency>``: jobs/s over the processing
window (first start to last completion, from the rows), the worker's peak RSS
(VmHWM) and its peak thread count (/proc/<pid>/task, sampled every 20 ms).

Part 2: ``--noops`` no-op async jobs, then as many no-op sync jobs, each drained
by one ``runjobs --burst`` at ``--noop-concurrency`` (bench/throughput.py's
setting), and the ratio of the two rates.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import ROOT, setup_django, truncate_jobs, vendor


def _status(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def run_worker(queue: str, timeout: float) -> tuple[float, float | None, int, int]:
    """Run one burst worker; return wall seconds, peak RSS in MB, peak threads and exit status."""
    env = {**os.environ, "DEBUG": "False", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "runjobs", "--burst", "--queue", queue],
        cwd=ROOT,
        env=env,
    )
    peak_kb: int | None = None
    threads = 0
    while process.poll() is None:
        peak_kb = _status(process.pid, "VmHWM:") or peak_kb
        threads = max(threads, _status(process.pid, "Threads:") or 0)
        if time.perf_counter() - start > timeout:
            process.kill()
            break
        time.sleep(0.02)
    return time.perf_counter() - start, (peak_kb / 1024 if peak_kb else None), threads, process.wait()


def analyze() -> None:
    # Fresh statistics, as bench/throughput.py does: the claim walks its index.
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE djobs_job")


def enqueue(job_function: object, n: int, args: tuple[object, ...] = ()) -> None:
    bench = job_function.using(queue="bench")  # type: ignore[attr-defined]
    for start in range(0, n, 10_000):
        bench.enqueue_many([args for _ in range(min(10_000, n - start))])
    analyze()


def drain(concurrency: int, timeout: float) -> tuple[float, int, float, float | None, int, int]:
    """Run the bench queue dry; return jobs/s processing, done, wall, peak MB, threads, status."""
    from django.db.models import Max, Min

    from djobs.models import Job

    wall, peak, threads, status = run_worker(f"bench={concurrency}", timeout)
    done = Job.objects.filter(queue="bench", state="completed").count()
    window = Job.objects.filter(queue="bench").aggregate(a=Min("attempted_at"), f=Max("finished_at"))
    seconds = (window["f"] - window["a"]).total_seconds() if window["f"] else float("nan")
    return done / seconds, done, wall, peak, threads, status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sleepers", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--noops", type=int, default=20_000)
    parser.add_argument("--noop-concurrency", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    setup_django("async_jobs")

    from tests.testapp.async_jobs import noop as async_noop
    from tests.testapp.async_jobs import sleeps
    from tests.testapp.worker_jobs import noop as sync_noop

    print(f"database: {vendor()}, one runjobs process")
    if args.sleepers:
        truncate_jobs()
        enqueue(sleeps, args.sleepers, (0.1,))
        rate, done, wall, peak, threads, status = drain(args.concurrency, args.timeout)
        peak_text = f"{peak:.1f} MB" if peak else "n/a"
        print(
            f"{args.sleepers} async jobs awaiting asyncio.sleep(0.1), bench={args.concurrency}: "
            f"{rate:.0f} jobs/s processing, {done / wall:.0f} jobs/s with start-up ({wall:.2f} s), "
            f"peak RSS {peak_text}, peak threads {threads}, completed {done}/{args.sleepers}, exit {status}"
        )
    if args.noops:
        rates = {}
        for kind, function in (("async", async_noop), ("sync", sync_noop)):
            truncate_jobs()
            enqueue(function, args.noops)
            rate, done, wall, peak, threads, status = drain(args.noop_concurrency, args.timeout)
            rates[kind] = rate
            print(
                f"{args.noops} no-op {kind} jobs, bench={args.noop_concurrency}: {rate:.0f} jobs/s "
                f"processing, peak threads {threads}, completed {done}/{args.noops}, exit {status}"
            )
        print(f"no-op async / no-op sync: {rates['async'] / rates['sync']:.0%}")
    truncate_jobs()


if __name__ == "__main__":
    main()
