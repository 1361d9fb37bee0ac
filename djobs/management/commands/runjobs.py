"""``manage.py runjobs``: run the dispatcher (argument parsing only; see djobs.worker)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from djobs.conf import get_settings, validate_queue_name
from djobs.worker.logsetup import FORMATS, worker_logging
from djobs.worker.recycle import RECYCLE
from djobs.worker.supervisor import SLOT_ENV

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


def positive_int(value: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer of at least 1")
    return number


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
            "--processes",
            type=positive_int,
            default=1,
            metavar="N",
            help="Run N worker processes under one supervisor (for CPU-bound jobs); default 1.",
        )
        parser.add_argument(
            "--max-jobs",
            type=positive_int,
            metavar="N",
            help="Replace the worker process after it recorded N outcomes (running jobs finish first).",
        )
        parser.add_argument(
            "--max-memory",
            type=positive_int,
            metavar="MB",
            help="Replace the worker process once its resident memory reaches MB "
            "(running jobs finish first).",
        )
        parser.add_argument(
            "--metrics-port",
            type=positive_int,
            metavar="PORT",
            help="Serve Prometheus metrics on PORT/metrics (default: DJOBS['METRICS_PORT']; one port "
            "for all --processes).",
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
        metrics_port = options["metrics_port"] or get_settings().METRICS_PORT
        if metrics_port:
            from djobs.metrics import prometheus

            prometheus()  # a missing library is an error now, not in a child process
        if options["processes"] > 1:
            if options["burst"]:
                raise CommandError("--processes runs a long-lived group; use --burst without it.")
            from djobs.worker.supervisor import supervise

            with worker_logging(options["verbosity"], options["log_format"]):
                sys.exit(supervise(sys.argv, options["processes"], metrics_port=metrics_port))
        with worker_logging(options["verbosity"], options["log_format"]):
            status = self._serve(queues, options, metrics_port)
        if status == RECYCLE:
            if os.environ.get(SLOT_ENV):
                sys.exit(RECYCLE)  # the supervisor starts another
            logger.info("djobs: the worker process starts afresh (recycled)")
            sys.stdout.flush()
            sys.stderr.flush()
            os.execv(sys.executable, [sys.executable, *sys.argv])
        if status == RESTART:
            if options["burst"] or options["no_restart"]:
                sys.exit(RESTART)
            self.stderr.write("djobs: restarting the worker process (stuck threads)")
            sys.stdout.flush()
            sys.stderr.flush()
            os.execv(sys.executable, [sys.executable, *sys.argv])

    def _serve(self, queues: dict[str, int], options: dict[str, Any], metrics_port: int | None) -> int:
        from djobs.metrics.worker import exported
        from djobs.worker.recycle import RecyclePolicy
        from djobs.worker.runner import Runner

        # A burst run ends by itself: recycling it would only leave jobs behind.
        recycle = (
            RecyclePolicy() if options["burst"] else RecyclePolicy(options["max_jobs"], options["max_memory"])
        )
        runner = Runner(queues, burst=options["burst"], recycle=recycle)
        log_banner(runner)
        warn_unused_queues(queues)
        started = time.monotonic()
        with exported(runner, metrics_port):
            status = runner.run()
        # A SIGTERM during a recycle means stop: the process must not start afresh.
        if runner.recycling and not runner.stop_requested:
            return RECYCLE
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
