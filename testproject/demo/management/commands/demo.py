"""``manage.py demo``: the demo project with workers, the admin, and a trickle of jobs.

Migrates the database, creates the ``admin``/``admin`` superuser if missing,
enqueues a workload of the demo's jobs (two batches with callbacks among
them), starts ``runjobs`` and ``runserver`` (on 127.0.0.1:8000 unless
``--addrport`` says otherwise) as child processes, and keeps enqueueing a
little work until Ctrl-C or SIGTERM, which stop the children too.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

MANAGE = Path(__file__).resolve().parents[4] / "manage.py"


def enqueue_workload(size: int, batches: bool = True) -> int:
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
    return count + (enqueue_batches(customers) if batches else 0)


def enqueue_batches(customers: list[int]) -> int:
    """Start two batches with callbacks, so the admin's Batches page has something to show."""
    from djobs.batches import batch
    from testproject.demo import jobs
    from testproject.demo.models import Customer
    from testproject.demo.weekly_update import start_weekly_update

    emails = list(Customer.objects.filter(pk__in=customers).values_list("email", flat=True))
    start_weekly_update(emails)  # on_complete: the admins get one summary email
    # Flaky rows: most imports succeed (on_success), some lose a row for good (on_discard).
    with batch(on_success=jobs.import_succeeded, on_discard=jobs.import_failed, description="nightly import"):
        rows = jobs.flaky.enqueue_many([(n,) for n in range(max(1, len(customers) // 4))])
    return len(emails) + len(rows)


class Stop(Exception):
    """Raised in the main thread by SIGTERM, as Ctrl-C raises KeyboardInterrupt."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


class Command(BaseCommand):
    help = "Run the djobs demo: workers, the admin on 127.0.0.1:8000, and a trickle of jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--addrport",
            default="127.0.0.1:8000",
            help="Where runserver listens (default 127.0.0.1:8000; the demo's admin is admin/admin, "
            "so think twice before 0.0.0.0).",
        )
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
        previous = signal.signal(signal.SIGTERM, _raise_stop)
        children: list[subprocess.Popen[bytes]] = []
        try:
            self._start_children(children, options)
            self._trickle(children, options["duration"])
        except (KeyboardInterrupt, Stop):
            self.stdout.write("demo: stopping")
        finally:
            # A second signal must not cut the cleanup short.
            previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            stop_children(children)
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)

    def _start_children(self, children: list[subprocess.Popen[bytes]], options: dict[str, Any]) -> None:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE}
        # The children get a process group of their own: Ctrl-C in a terminal (or a
        # signal to this command's group) reaches this command only, which then
        # sends each child exactly one SIGTERM. A second would make runjobs exit
        # at once instead of finishing its running jobs.
        children.append(subprocess.Popen([sys.executable, str(MANAGE), "runjobs"], env=env, process_group=0))
        if not options["no_server"]:
            children.append(
                subprocess.Popen(
                    [sys.executable, str(MANAGE), "runserver", "--noreload", options["addrport"]],
                    env=env,
                    process_group=children[0].pid,
                )
            )
            host, _, port = options["addrport"].rpartition(":")
            shown = host if host and host not in ("0.0.0.0", "::", "[::]") else "127.0.0.1"
            self.stdout.write(f"demo: admin at http://{shown}:{port}/admin/  (user admin, password admin)")
        self.stdout.write("demo: workers running; Ctrl-C (or SIGTERM) stops everything")

    def _trickle(self, children: list[subprocess.Popen[bytes]], duration: float | None) -> None:
        end = time.monotonic() + duration if duration else None
        while end is None or time.monotonic() < end:
            time.sleep(2.0)
            if any(child.poll() is not None for child in children):
                self.stderr.write("demo: a child process exited; stopping")
                return
            enqueue_workload(random.randint(1, 3), batches=random.random() < 0.1)


def stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    """Send each child one SIGTERM, wait for it, and kill what is left after 30 s."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
