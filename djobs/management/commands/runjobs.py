"""``manage.py runjobs``: run the dispatcher (argument parsing only; see djobs.worker)."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from djobs.conf import get_settings, validate_queue_name


def parse_queue(value: str) -> tuple[str, int]:
    """Turn ``name=concurrency`` (or ``name``) into a pair; raise CommandError naming the fix."""
    name, sep, number = value.partition("=")
    why = validate_queue_name(name.strip())
    if why:
        raise CommandError(f"--queue {value!r}: {why}. Use --queue NAME=CONCURRENCY.")
    if not sep:
        return name.strip(), 10
    try:
        concurrency = int(number)
    except ValueError:
        concurrency = 0
    if concurrency < 1:
        raise CommandError(
            f"--queue {value!r}: concurrency {number!r} must be an integer of at least 1, "
            "as in --queue emails=5."
        )
    return name.strip(), concurrency


class Command(BaseCommand):
    help = "Run djobs workers for one or more queues."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--queue",
            "-q",
            action="append",
            default=[],
            metavar="NAME=CONCURRENCY",
            help="A queue to serve and its number of threads (repeatable). Default: DJOBS['QUEUES'].",
        )
        parser.add_argument(
            "--burst",
            action="store_true",
            help="Exit once no job of these queues is runnable (for cron-style runs and tests).",
        )
        parser.add_argument(
            "--no-restart",
            action="store_true",
            help="Exit with status 75 instead of re-executing itself when its threads are stuck.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from djobs.worker.runner import RESTART, Runner

        queues: dict[str, int] = {}
        for value in options["queue"]:
            name, concurrency = parse_queue(value)
            if name in queues:
                raise CommandError(f"--queue {name!r} is given twice; give each queue once.")
            queues[name] = concurrency
        if not queues:
            queues = dict(get_settings().QUEUES)
        runner = Runner(queues, burst=options["burst"])
        status = runner.run()
        if status == RESTART:
            if options["burst"] or options["no_restart"]:
                sys.exit(RESTART)
            self.stderr.write("djobs: restarting the worker process (stuck threads)")
            sys.stdout.flush()
            sys.stderr.flush()
            os.execv(sys.executable, [sys.executable, *sys.argv])
