"""django.tasks on djobs beside plain @job functions: the cost of the Task layer.

Needs Django 6.0+ (or the django-tasks backport):

    .venv-python3.13-django6.1/bin/python bench/tasks.py                  # SQLite file in /tmp
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv-python3.13-django6.1/bin/python bench/tasks.py

Prints, for the same function written both ways: enqueues/s one per
transaction (``Task.enqueue`` vs ``@job .enqueue``), and runs/s of an
in-process burst worker at concurrency 10 draining them, and the task layer
alone (the TaskRunner builds a TaskResult and sends Django's signals around
each call) in microseconds per run.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import setup_django, timed, truncate_jobs, vendor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--enqueue", type=int, default=3000, help="jobs enqueued one by one")
    parser.add_argument("--run", type=int, default=5000, help="jobs drained by the burst worker")
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    setup_django("tasks")
    import logging

    # With DEBUG on, Django logs every task start and finish to the console;
    # production (DEBUG off) drops those lines, so the benchmark does too.
    logging.getLogger("django.tasks").setLevel(logging.WARNING)

    from djobs.worker.runner import run_burst
    from tests.testapp import jobs, tasks

    print(f"database: {vendor()}")
    rows: list[tuple[str, int, float, float]] = []

    truncate_jobs()
    task_s = timed(lambda: [tasks.add.enqueue(i, i) for i in range(args.enqueue)])
    truncate_jobs()
    job_s = timed(lambda: [jobs.add.enqueue(i, i) for i in range(args.enqueue)])
    rows.append(("enqueue, own transaction", args.enqueue, task_s, job_s))

    queues = {"default": args.concurrency}
    truncate_jobs()
    for start in range(0, args.run, 1000):
        for i in range(start, min(start + 1000, args.run)):
            tasks.add.enqueue(i, i)
    task_s = timed(lambda: run_burst(queues))
    truncate_jobs()
    jobs.add.enqueue_many([(i, i) for i in range(args.run)])
    job_s = timed(lambda: run_burst(queues))
    rows.append((f"run, burst at {args.concurrency}", args.run, task_s, job_s))
    truncate_jobs()

    # The task layer alone, no database: the registry entry's call on a claimed-like row.
    from djobs import registry
    from djobs.context import JobContext
    from djobs.models import Job

    job = Job(id=1, state="executing", path="tests.testapp.tasks.add", args=[1, 2], attempt=1)
    job.__dict__.pop("errors")
    runner, plain = registry.lookup(job.path).func, jobs.add.func
    context, calls = JobContext(job), 20_000
    task_s = timed(lambda: [runner(context, 1, 2) for _ in range(calls)])
    job_s = timed(lambda: [plain(1, 2) for _ in range(calls)])
    rows.append(("call, no database", calls, task_s, job_s))
    overhead_us = (task_s - job_s) / calls * 1e6

    print(f"{'case':<28}{'django.tasks /s':>16}{'@job /s':>14}{'ratio':>8}")
    for name, n, task_s, job_s in rows:
        print(f"{name:<28}{n / task_s:>16,.0f}{n / job_s:>14,.0f}{job_s / task_s:>8.2f}")
    print("(ratio: django.tasks speed as a fraction of @job's; the run includes worker start-up)")
    print(f"task layer per run: {overhead_us:.1f} µs (TaskResult, signals, normalize_json)")


if __name__ == "__main__":
    main()
