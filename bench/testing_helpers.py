"""What the djobs.testing helpers cost a test suite: drain_queue, inline enqueue, perform_job.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/testing_helpers.py
    .venv/bin/python bench/testing_helpers.py            # SQLite file in /tmp

Prints jobs per second for drain_queue (one claim and one fenced record per
job) and for enqueue in inline mode, each in autocommit (TransactionTestCase:
every statement commits) and inside a transaction (TestCase), for
perform_job (nothing written), and the time of a failing assert_enqueued
among N jobs (the closest-candidates message).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import setup_django, timed, truncate_jobs, vendor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    setup_django("testing_helpers")

    from django.db import transaction

    from djobs.testing import assert_enqueued, drain_queue, perform_job, testing_mode
    from tests.testapp.jobs import add

    n = args.jobs
    print(f"{vendor()}: {n} jobs")

    truncate_jobs()
    add.enqueue_many([(i, i) for i in range(n)])
    seconds = timed(lambda: drain_queue("default"))
    print(f"  drain_queue (autocommit):        {n / seconds:8.0f} jobs/s")

    truncate_jobs()
    add.enqueue_many([(i, i) for i in range(n)])

    def drain_in_transaction() -> None:
        with transaction.atomic():
            drain_queue("default")

    seconds = timed(drain_in_transaction)
    print(f"  drain_queue (in a transaction):  {n / seconds:8.0f} jobs/s")

    truncate_jobs()

    def inline() -> None:
        with testing_mode("inline"):
            for i in range(n):
                add.enqueue(i, i)

    seconds = timed(inline)
    print(f"  enqueue in inline mode:          {n / seconds:8.0f} jobs/s")

    truncate_jobs()

    def inline_in_transaction() -> None:
        with transaction.atomic():
            inline()

    seconds = timed(inline_in_transaction)
    print(f"  inline, in a transaction:        {n / seconds:8.0f} jobs/s")

    seconds = timed(lambda: [perform_job(add, [i, i]) for i in range(n)])
    print(f"  perform_job:                     {n / seconds:8.0f} jobs/s")

    truncate_jobs()
    add.enqueue_many([(i, i) for i in range(n)])

    def failing_assert() -> None:
        try:
            assert_enqueued(job=add, args=[-1])
        except AssertionError:
            return
        raise RuntimeError("assert_enqueued should have failed")

    seconds = timed(failing_assert)
    print(f"  failing assert_enqueued among {n}: {seconds * 1000:6.1f} ms")
    truncate_jobs()


if __name__ == "__main__":
    main()
