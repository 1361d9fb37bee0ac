"""Workflow overhead: the same no-op jobs through ``runjobs --burst``, with dependencies and without.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/workflows.py
    .venv/bin/python bench/workflows.py --chains 1000 --fan 2000     # SQLite file in /tmp

Two shapes, each timed both ways in one round (alternating which goes first):

- chain: ``--chains`` chains of 3 steps (Workflow.enqueue_many, one transaction);
- fan: one workflow of ``--fan`` parallel steps, all feeding one final step.

"plain" enqueues the same number of jobs with enqueue_many and no
dependencies. Total = enqueue (for the workflows, building the steps with
``fn.new()`` too, as users write them) + the burst worker's wall time. The
ratio of the best rounds, workflow / plain, is printed with the load average
(ratios from one run are what count on a shared machine); the target is at
most 1.5x.
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


def clear() -> None:
    from djobs.models import Workflow, WorkflowEdge, WorkflowStep

    truncate_jobs()
    WorkflowEdge.objects.all().delete()
    WorkflowStep.objects.all().delete()
    Workflow.objects.all().delete()


def enqueue_chains(n: int) -> int:
    from djobs import chain
    from djobs.workflows import Workflow
    from tests.testapp.worker_jobs import noop

    bench = noop.using(queue="bench")
    for offset in range(0, n, 2000):
        Workflow.enqueue_many(
            [chain(bench.new(), bench.new(), bench.new()) for _ in range(min(2000, n - offset))]
        )
    return 3 * n


def enqueue_fan(n: int) -> int:
    from djobs import Workflow
    from tests.testapp.worker_jobs import noop

    bench = noop.using(queue="bench")
    wf = Workflow("fan")
    names = [wf.add(f"s{i}", bench.new()) for i in range(n)]
    wf.add("final", bench.new(), deps=names)
    wf.enqueue()
    return n + 1


def enqueue_plain(n: int) -> int:
    from tests.testapp.worker_jobs import noop

    bench = noop.using(queue="bench")
    for offset in range(0, n, CHUNK):
        bench.enqueue_many([() for _ in range(min(CHUNK, n - offset))])
    return n


def one_run(label: str, enqueue: object, size: int, concurrency: int, timeout: float) -> dict[str, float]:
    from djobs.models import Job

    clear()
    start = time.perf_counter()
    jobs = enqueue(size)  # type: ignore[operator]
    enqueued = time.perf_counter() - start
    analyze()
    wall, _, status = run_worker(concurrency, timeout)
    done = Job.objects.filter(queue="bench", state="completed").count()
    if status != 0 or done != jobs:
        raise SystemExit(f"{label}: worker exit {status}, completed {done}/{jobs}")
    return {"enqueue": enqueued, "wall": wall, "total": enqueued + wall, "jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chains", type=int, default=5000)
    parser.add_argument("--fan", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    setup_django("workflows")
    print(
        f"database: {vendor()}, concurrency {args.concurrency}, one runjobs --burst process, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    shapes = [
        (f"chain 3 x {args.chains}", enqueue_chains, args.chains, 3 * args.chains),
        (f"fan-out/fan-in {args.fan} -> 1", enqueue_fan, args.fan, args.fan + 1),
    ]
    for label, enqueue, size, jobs in shapes:
        best: dict[str, dict[str, float]] = {}
        for round_ in range(1, args.rounds + 1):
            kinds = [("workflow", enqueue, size), ("plain", enqueue_plain, jobs)]
            for kind, fn, n in kinds if round_ % 2 else kinds[::-1]:
                run = one_run(f"{label} {kind}", fn, n, args.concurrency, args.timeout)
                print(
                    f"{label} round {round_} {kind:8}: {int(run['jobs'])} jobs, "
                    f"enqueue {run['enqueue']:.2f} s, "
                    f"worker {run['wall']:.2f} s, total {run['total']:.2f} s"
                )
                if kind not in best or run["total"] < best[kind]["total"]:
                    best[kind] = run
        ratio = best["workflow"]["total"] / best["plain"]["total"]
        print(
            f"{label}: workflow {best['workflow']['total']:.2f} s vs plain {best['plain']['total']:.2f} s "
            f"= {ratio:.2f}x (target <= 1.5x; load average {os.getloadavg()[0]:.2f})"
        )
    clear()


if __name__ == "__main__":
    main()
