"""django.tasks on djobs beside plain @job functions: the cost of the Task layer.

Needs Django 6.0+ (or the django-tasks backport):

    .venv-python3.13-django6.1/bin/python bench/tasks.py                  # SQLite file in /tmp
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv-python3.13-django6.1/bin/python bench/tasks.py

Prints, for the same function written both ways: enqueues/s one per
transaction (``Task.enqueue`` vs ``@job .enqueue``), and runs/s of an
in-process burst worker at concurrency 10 draining them (the TaskRunner
builds a TaskResult and sends Django's signals around each call).
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

    print(f"{'case':<28}{'django.tasks /s':>16}{'@job /s':>10}{'ratio':>8}")
    for name, n, task_s, job_s in rows:
        print(f"{name:<28}{n / task_s:>16,.0f}{n / job_s:>10,.0f}{job_s / task_s:>8.2f}")
    print("(ratio: django.tasks speed as a fraction of @job's; the run includes worker start-up)")


if __name__ == "__main__":
    main()
