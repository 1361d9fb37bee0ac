"""Periodic scheduler cost: an idle round, and a round where every schedule is due.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/periodic.py
    .venv/bin/python bench/periodic.py            # SQLite file in /tmp

Prints, for N schedules: the time of a round with nothing due (what every
runjobs process pays about once a second), the time of a round where all N
are due (N ticks enqueued), and the same with 3 schedulers in threads racing
for the same ticks (each tick still enqueued once; checked).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from datetime import UTC, datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import percentile, setup_django, timed, truncate_jobs, vendor

DUE = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
EARLY = DUE - timedelta(seconds=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--idle-rounds", type=int, default=200)
    args = parser.parse_args()
    setup_django("periodic")

    from django.db import connection

    from djobs.maintenance.scheduler import PeriodicScheduler, SchedulerConfig
    from djobs.models import Job, PeriodicSchedule

    def reset(n: int) -> None:
        truncate_jobs()
        PeriodicSchedule.objects.all().delete()
        PeriodicSchedule.objects.bulk_create(
            PeriodicSchedule(
                name=f"s{i}", cron="* * * * *", path="tests.testapp.jobs.add", args=[i, i], next_run_at=DUE
            )
            for i in range(n)
        )

    def scheduler() -> PeriodicScheduler:
        return PeriodicScheduler(SchedulerConfig(sync_on_start=False))

    def race(n: int) -> float:
        """Return the seconds 3 schedulers in threads take to enqueue ``n`` due ticks."""
        reset(n)
        barrier = threading.Barrier(3)

        def one() -> None:
            barrier.wait()
            scheduler().run_once(now=DUE)
            connection.close()

        threads = [threading.Thread(target=one) for _ in range(3)]

        def run() -> None:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        seconds = timed(run)
        names = list(Job.objects.values_list("meta__periodic", flat=True))
        assert len(names) == len(set(names)) == n, f"{len(names)} jobs for {n} ticks"
        return seconds

    print(f"database: {vendor()}")
    header = ("schedules", "idle round p50 ms", "p95 ms", "all due: ticks/s", "3 racing: ticks/s")
    print(f"{header[0]:>10}{header[1]:>19}{header[2]:>9}{header[3]:>18}{header[4]:>19}")
    for n in args.schedules:
        reset(n)
        service = scheduler()
        idle = [timed(lambda s=service: s.run_once(now=EARLY)) for _ in range(args.idle_rounds)]
        due_s = timed(lambda s=service: s.run_once(now=DUE))
        assert Job.objects.count() == n
        race_s = race(n)
        print(
            f"{n:>10}{percentile(idle, 50) * 1000:>19.2f}{percentile(idle, 95) * 1000:>9.2f}"
            f"{n / due_s:>18,.0f}{n / race_s:>19,.0f}"
        )
    truncate_jobs()
    PeriodicSchedule.objects.all().delete()


if __name__ == "__main__":
    main()
