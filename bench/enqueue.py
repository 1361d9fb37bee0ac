"""Enqueue throughput: djobs beside the bare ORM, in the same run and database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/enqueue.py
    DATABASE_URL=mysql://root@127.0.0.1:3306/x .venv/bin/python bench/enqueue.py   # MySQL, MariaDB
    .venv/bin/python bench/enqueue.py            # SQLite file in /tmp

Prints jobs/s for: one enqueue per transaction (djobs vs Model.objects.create),
bulk inserts of 20k and 100k jobs (djobs enqueue_many vs bulk_create), and the
checks and row building alone (``.new()``, no database), which is where the
argument rules of djobs.serialization cost their time.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import setup_django, timed, truncate_jobs, vendor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--single", type=int, default=3000, help="jobs for the one-by-one run")
    parser.add_argument("--bulk", type=int, nargs="*", default=[20_000, 100_000])
    parser.add_argument("--build", type=int, default=100_000, help="jobs built (checked, not inserted)")
    args = parser.parse_args()
    setup_django("enqueue")

    from django.db import transaction
    from django.utils import timezone

    from djobs.models import Job
    from tests.testapp.jobs import add

    print(f"database: {vendor()}")
    rows: list[tuple[str, int, float, float]] = []

    def one_by_one_djobs() -> None:
        for i in range(args.single):
            add.enqueue(i, i)  # autocommit: each in its own transaction

    def one_by_one_orm() -> None:
        for i in range(args.single):
            with transaction.atomic():
                Job.objects.create(path="tests.testapp.jobs.add", args=[i, i])

    truncate_jobs()
    djobs_s = timed(one_by_one_djobs)
    truncate_jobs()
    orm_s = timed(one_by_one_orm)
    rows.append(("single, own transaction", args.single, djobs_s, orm_s))

    for n in args.bulk:
        items = [(i, i) for i in range(n)]
        truncate_jobs()
        djobs_s = timed(lambda items=items: add.enqueue_many(items))
        truncate_jobs()
        now = timezone.now()
        objs = [
            Job(path="tests.testapp.jobs.add", args=[i, i], inserted_at=now, scheduled_at=now)
            for i in range(n)
        ]
        orm_s = timed(lambda objs=objs: Job.objects.bulk_create(objs, batch_size=2000))
        rows.append((f"bulk {n:,}", n, djobs_s, orm_s))
    truncate_jobs()

    def build_only() -> None:
        for i in range(args.build):
            add.new(i, i)

    build_s = min(timed(build_only) for _ in range(3))

    print(f"{'case':<26}{'djobs jobs/s':>14}{'bare ORM jobs/s':>18}{'ratio':>8}")
    for name, n, djobs_s, orm_s in rows:
        print(f"{name:<26}{n / djobs_s:>14,.0f}{n / orm_s:>18,.0f}{orm_s / djobs_s:>8.2f}")
    print(f"{'build only, no insert':<26}{args.build / build_s:>14,.0f}")
    print("(bare ORM bulk_create gets its model instances prebuilt; djobs validates and builds them)")


if __name__ == "__main__":
    main()
