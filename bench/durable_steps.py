"""Durable iterations: what ``ctx.each`` costs over the same loop without it.

    .venv/bin/python bench/durable_steps.py                      # SQLite file in /tmp
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/durable_steps.py
    .venv/bin/python bench/durable_steps.py --rows 100000 --rounds 5

One job sums a column over every row of a table (the work per item is as
small as it gets, so the overhead shows at its largest), looping over
``Row.objects.order_by("pk")`` in four ways: plain (the QuerySet, all rows
fetched at once), ``.iterator(chunk_size=500)``, ``ctx.each`` (cursor handed
over every 5 s, the default) and ``ctx.each(checkpoint_every=1000)``. Each
runs as a real job in a burst worker (claim, heartbeat thread writing the
cursors, outcome), rounds alternate the order, and the loop's own seconds
are compared: wall time, and the job thread's CPU time, which a loaded
machine disturbs far less (on SQLite the queries run in that thread too).
Each ``each`` variant is compared with both plain loops by median CPU time
(target: at most 5% more than the same loop without ``ctx.each``).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import setup_django, vendor

MODES = ("plain", "iterator", "each", "each-1000")


def fill(rows: int) -> None:
    from tests.testapp.models import Row

    Row.objects.all().delete()
    for start in range(0, rows, 10_000):
        Row.objects.bulk_create([Row(n=i) for i in range(start, min(rows, start + 10_000))])


def one_run(mode: str) -> tuple[float, float, int]:
    """Run the loop as a job; return its wall and CPU seconds and how many progress rows it left."""
    from djobs.durable.models import JobProgress
    from djobs.models import Job
    from djobs.worker.runner import run_burst
    from tests.testapp.durable_jobs import loop_rows

    Job.objects.all().delete()
    JobProgress.objects.all().delete()
    gc.collect()  # the previous loop's garbage is not this one's to collect
    job = loop_rows.enqueue(mode)
    run_burst({"default": 1})
    job.refresh_from_db()
    if job.state != "completed":
        raise SystemExit(f"{mode}: the job ended {job.state}: {job.errors}")
    wall, cpu = job.result
    return float(wall), float(cpu), JobProgress.objects.count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    url = setup_django("durable_steps")
    fill(args.rows)
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round_number in range(args.rounds):
        order = MODES if round_number % 2 == 0 else tuple(reversed(MODES))
        for mode in order:
            seconds, cpu_seconds, progress_rows = one_run(mode)
            if mode.startswith("each") and progress_rows != 1:
                raise SystemExit(f"{mode}: expected the job's progress row, found {progress_rows}")
            wall[mode].append(seconds)
            cpu[mode].append(cpu_seconds)
    load = os.getloadavg()
    print(
        f"{vendor()} ({url.split('://')[0]}), {args.rows:,} rows, {args.rounds} rounds, "
        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    header = f"{'wall median':>12} {'wall best':>10} {'CPU median':>11} {'CPU best':>9}"
    print(f"  {'loop':<10} {header}  us/item (CPU)")
    for mode in MODES:
        cpu_median = statistics.median(cpu[mode])
        print(
            f"  {mode:<10} {statistics.median(wall[mode]):>11.3f}s {min(wall[mode]):>9.3f}s "
            f"{cpu_median:>10.3f}s {min(cpu[mode]):>8.3f}s  {cpu_median / args.rows * 1e6:.2f}"
        )
    for mode in ("each", "each-1000"):
        for baseline in ("plain", "iterator"):
            extra = (statistics.median(cpu[mode]) / statistics.median(cpu[baseline]) - 1) * 100
            verdict = "ok" if extra <= 5 else "over"
            print(f"  {mode} vs {baseline}: {extra:+.1f}% CPU (target: at most +5%): {verdict}")


if __name__ == "__main__":
    main()
