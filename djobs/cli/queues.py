"""Pause, resume or scale a queue on every worker, or list the queues' flow state.

manage.py jobs pause stripe
manage.py jobs resume stripe
manage.py jobs scale stripe 20      (or --reset: back to each worker's starting concurrency)
manage.py jobs queues
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from ..flow.queues import pause_queue, queue_statuses, resume_queue, scale_queue


def add_pause_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queue", help="The queue to pause: no new starts anywhere; running jobs finish.")


def handle_pause(command: BaseCommand, **options: Any) -> None:
    pause_queue(options["queue"])
    command.stdout.write(f"Paused queue {options['queue']!r}: workers start none of its jobs until resumed.")


def add_resume_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queue", help="The queue to resume.")


def handle_resume(command: BaseCommand, **options: Any) -> None:
    resume_queue(options["queue"])
    command.stdout.write(f"Resumed queue {options['queue']!r}.")


def add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queue", help="The queue to scale.")
    parser.add_argument("concurrency", nargs="?", type=int, help="Threads per worker process.")
    parser.add_argument("--reset", action="store_true", help="Go back to each worker's starting concurrency.")


def handle_scale(command: BaseCommand, **options: Any) -> None:
    concurrency = options["concurrency"]
    if options["reset"] == (concurrency is not None):
        raise ValueError("Give a concurrency (jobs scale stripe 20) or --reset, not both and not neither.")
    scale_queue(options["queue"], None if options["reset"] else concurrency)
    what = "its starting concurrency" if options["reset"] else f"{concurrency} per worker process"
    command.stdout.write(f"Scaled queue {options['queue']!r} to {what}.")


def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def handle_list(command: BaseCommand, **options: Any) -> None:
    for status in queue_statuses():
        limits = []
        if status.global_limit is not None:
            limits.append(f"global_limit={status.global_limit}")
        if status.rate_allowed is not None:
            limits.append(f"rate={status.rate_allowed}/{status.rate_period:g}s")
        if status.partition_by:
            limits.append(f"partition_by={','.join(status.partition_by)}")
        scaled = " (scaled)" if status.scaled else ""
        command.stdout.write(
            f"{status.name}\t{'paused' if status.paused else 'running'}\t"
            f"concurrency={status.concurrency}{scaled}\t{' '.join(limits) or 'no limits'}"
        )
