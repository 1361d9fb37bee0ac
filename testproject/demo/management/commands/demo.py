"""``manage.py demo``: the demo project with workers, the admin, and a trickle of jobs.

Migrates the database, creates the ``admin``/``admin`` superuser if missing,
enqueues a workload of the demo's jobs, starts ``runjobs`` and ``runserver``
as child processes, and keeps enqueueing a little work until Ctrl-C, which
stops the children too.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

MANAGE = Path(__file__).resolve().parents[4] / "manage.py"


def enqueue_workload(size: int) -> int:
    """Enqueue ``size`` jobs of every kind the demo has; return how many were inserted."""
    from testproject.demo import jobs
    from testproject.demo.models import Customer

    customers = [Customer.objects.get_or_create(email=f"customer{i}@example.com")[0].pk for i in range(size)]
    count = len(jobs.send_welcome.enqueue_many([(pk,) for pk in customers]))
    count += len(jobs.flaky.enqueue_many([(n,) for n in range(size)]))
    count += len(jobs.resize_image.enqueue_many([(n,) for n in range(size)]))
    count += len(jobs.wait_for_stock.enqueue_many([(f"SKU-{n}",) for n in range(size // 2)]))
    count += len(
        jobs.charge.enqueue_many([(f"order-{n}", random.choice([0, 990, 2500])) for n in range(size)])
    )
    count += len(jobs.backfill_row.enqueue_many([(n,) for n in range(size * 5)]))
    count += len(jobs.flaky.using(schedule_in=30).enqueue_many([(n,) for n in range(size // 2)]))
    return count


class Command(BaseCommand):
    help = "Run the djobs demo: workers, the admin on :8000, and a trickle of jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addrport", default="0.0.0.0:8000", help="Where runserver listens.")
        parser.add_argument("--size", type=int, default=20, help="Jobs of each kind to start with.")
        parser.add_argument("--no-server", action="store_true", help="Do not start runserver.")
        parser.add_argument("--duration", type=float, default=None, help="Stop after this many seconds.")

    def handle(self, *args: Any, **options: Any) -> None:
        from django.contrib.auth import get_user_model

        call_command("migrate", interactive=False, verbosity=0)
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", "admin")
        inserted = enqueue_workload(options["size"])
        self.stdout.write(f"demo: enqueued {inserted} jobs")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE}
        children = [subprocess.Popen([sys.executable, str(MANAGE), "runjobs"], env=env)]
        if not options["no_server"]:
            children.append(
                subprocess.Popen(
                    [sys.executable, str(MANAGE), "runserver", "--noreload", options["addrport"]],
                    env=env,
                )
            )
            port = options["addrport"].rpartition(":")[2]
            self.stdout.write(f"demo: admin at http://127.0.0.1:{port}/admin/  (user admin, password admin)")
        self.stdout.write("demo: workers running; Ctrl-C stops everything")
        end = time.monotonic() + options["duration"] if options["duration"] else None
        try:
            while end is None or time.monotonic() < end:
                time.sleep(2.0)
                if any(child.poll() is not None for child in children):
                    self.stderr.write("demo: a child process exited; stopping")
                    break
                enqueue_workload(random.randint(1, 3))
        except KeyboardInterrupt:
            self.stdout.write("demo: stopping")
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(30)
                except subprocess.TimeoutExpired:
                    child.kill()
