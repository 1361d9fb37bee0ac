"""Batch overhead: the same N no-op jobs through ``runjobs --burst``, in one batch and in none.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/batch_overhead.py
    .venv/bin/python bench/batch_overhead.py --jobs 20000      # SQLite file in /tmp
    .venv/bin/python bench/batch_overhead.py --jobs 100000 --rounds 2 --concurrency 10

Each round enqueues N jobs (10k per enqueue_many call) unbatched, and the
same N inside ``with batch(on_complete=...)`` (in alternating order), and
drains each with one burst worker. It prints the enqueue time, the processing window (first claim to
last completion, from the rows) and the worker's wall time for both, and the
overhead of the batch in percent (target: at most 20%). The batch's callback
must have been enqueued exactly once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import setup_django, truncate_jobs, vendor
from bench.throughput import analyze, run_worker

CHUNK = 10_000


def enqueue(n: int, batched: bool) -> tuple[float, str | None]:
    from djobs.batches import batch
    from tests.testapp.worker_jobs import noop

    bench = noop.using(queue="bench")
    start = time.perf_counter()
    if batched:
        with batch(on_complete="tests.testapp.batch_jobs.report", description=f"bench {n}") as b:
            for offset in range(0, n, CHUNK):
                bench.enqueue_many([() for _ in range(min(CHUNK, n - offset))])
        return time.perf_counter() - start, b.key
    for offset in range(0, n, CHUNK):
        bench.enqueue_many([() for _ in range(min(CHUNK, n - offset))])
    return time.perf_counter() - start, None


def processing_window() -> float:
    from django.db.models import Max, Min

    from djobs.models import Job

    window = Job.objects.filter(queue="bench").aggregate(a=Min("attempted_at"), f=Max("finished_at"))
    return (window["f"] - window["a"]).total_seconds() if window["f"] else float("nan")


def one_run(n: int, batched: bool, concurrency: int, timeout: float) -> dict[str, float]:
    from djobs.models import Batch, Job

    truncate_jobs()
    Batch.objects.all().delete()
    enqueue_seconds, key = enqueue(n, batched)
    analyze()
    wall, _, status = run_worker(concurrency, timeout)
    done = Job.objects.filter(queue="bench", state="completed").count()
    if status != 0 or done != n:
        raise SystemExit(f"worker exit {status}, completed {done}/{n}")
    if key is not None:
        callbacks = Job.objects.filter(meta__callback_of=key).count()
        state = Batch.objects.get(pk=key).state
        if (callbacks, state) != (1, "finished"):
            raise SystemExit(f"batch {key}: state {state}, {callbacks} callback(s); expected finished, 1")
    return {"enqueue": enqueue_seconds, "processing": processing_window(), "wall": wall}


def overhead(batched: float, plain: float) -> str:
    return f"{(batched / plain - 1) * 100:+.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    setup_django("batch_overhead")

    print(f"database: {vendor()}, {args.jobs} jobs, concurrency {args.concurrency}, one runjobs process")
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for round_ in range(1, args.rounds + 1):
        # Alternate which goes first, so a drift in the machine's load hits both.
        for batched in (False, True) if round_ % 2 else (True, False):
            run = one_run(args.jobs, batched, args.concurrency, args.timeout)
            results[batched].append(run)
            label = "batched  " if batched else "unbatched"
            print(
                f"round {round_} {label}: enqueue {run['enqueue']:.2f} s, processing "
                f"{run['processing']:.2f} s ({args.jobs / run['processing']:.0f} jobs/s), "
                f"wall {run['wall']:.2f} s"
            )
    best = {batched: {k: min(r[k] for r in runs) for k in runs[0]} for batched, runs in results.items()}
    plain, batched = best[False], best[True]
    print(
        f"best of {args.rounds}: unbatched processing {plain['processing']:.2f} s, batched "
        f"{batched['processing']:.2f} s, overhead {overhead(batched['processing'], plain['processing'])} "
        f"(enqueue {overhead(batched['enqueue'], plain['enqueue'])}, "
        f"wall {overhead(batched['wall'], plain['wall'])}); target <= +20%"
    )
    truncate_jobs()


if __name__ == "__main__":
    main()
