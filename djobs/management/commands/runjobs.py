"""``manage.py runjobs``: run the dispatcher (argument parsing only; see djobs.worker)."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from djobs.conf import get_settings, validate_queue_name
from djobs.worker.logsetup import FORMATS, worker_logging

if TYPE_CHECKING:
    from djobs.worker.runner import Runner

logger = logging.getLogger("djobs")


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
        parser.add_argument(
            "--log-format",
            choices=FORMATS,
            default="text",
            help="Log lines on stderr as readable text (default) or one JSON object per line. "
            "Ignored when LOGGING configures the 'djobs' or the root logger.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from djobs.worker.runner import RESTART

        queues: dict[str, int] = {}
        for value in options["queue"]:
            name, concurrency = parse_queue(value)
            if name in queues:
                raise CommandError(f"--queue {name!r} is given twice; give each queue once.")
            queues[name] = concurrency
        if not queues:
            queues = dict(get_settings().QUEUES)
        with worker_logging(options["verbosity"], options["log_format"]):
            status = self._serve(queues, options)
        if status == RESTART:
            if options["burst"] or options["no_restart"]:
                sys.exit(RESTART)
            self.stderr.write("djobs: restarting the worker process (stuck threads)")
            sys.stdout.flush()
            sys.stderr.flush()
            os.execv(sys.executable, [sys.executable, *sys.argv])

    def _serve(self, queues: dict[str, int], options: dict[str, Any]) -> int:
        from djobs.worker.runner import Runner

        runner = Runner(queues, burst=options["burst"])
        log_banner(runner)
        warn_unused_queues(queues)
        started = time.monotonic()
        status = runner.run()
        if options["burst"]:
            log_burst_summary(runner, time.monotonic() - started)
        return status


def log_banner(runner: Runner) -> None:
    """Log who this worker is and what it serves, before it starts."""
    from djobs import __version__

    connection = connections[runner.ops.alias]
    queues = ", ".join(f"{name}={concurrency}" for name, concurrency in runner.queues.items())
    logger.info(
        "djobs %s worker %s (pid %d) serving %s on database %r (%s)%s",
        __version__,
        runner.worker_id,
        os.getpid(),
        queues,
        runner.ops.alias,
        connection.vendor,
        " in burst mode" if runner.burst else "",
        extra={
            "djobs_version": __version__,
            "djobs_worker": runner.worker_id,
            "pid": os.getpid(),
            "queues": runner.queues,
            "database": runner.ops.alias,
            "vendor": connection.vendor,
            "burst": runner.burst,
        },
    )


def warn_unused_queues(queues: dict[str, int]) -> None:
    """Warn about each served queue that no registered job or schedule uses."""
    from django.db import DatabaseError

    from djobs.queue_use import unused_queue_messages, used_queues

    try:
        used = used_queues(with_database=True)
    except DatabaseError:  # not migrated yet: the runner says so; settings' schedules still count
        used = used_queues()
    for message in unused_queue_messages(queues, used):
        logger.warning("djobs: %s", message, extra={"queue_warning": message})


def log_burst_summary(runner: Runner, seconds: float) -> None:
    """Log what a burst run did, one count per outcome."""
    outcomes = dict(sorted(runner.recorder.outcomes.items(), key=lambda item: (-item[1], item[0])))
    done = ", ".join(f"{count} {outcome}" for outcome, count in outcomes.items()) or "no jobs"
    not_recorded = runner.recorder.dropped
    logger.info(
        "djobs burst finished in %.1fs: %s%s",
        seconds,
        done,
        f"; {not_recorded} outcome(s) not recorded (no longer held)" if not_recorded else "",
        extra={"outcomes": outcomes, "seconds": round(seconds, 3), "not_recorded": not_recorded},
    )
