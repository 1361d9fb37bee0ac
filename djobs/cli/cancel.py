"""Cancel jobs that are not finished; a running job is stopped within about a second."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from .job_filters import add_operation_arguments, run_operation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_ids", nargs="*", type=int, metavar="ID", help="Job id (same as --id).")
    add_operation_arguments(parser)


def handle(command: BaseCommand, **options: Any) -> None:
    # ``jobs cancel 41 42`` is ``jobs cancel --id 41 --id 42``.
    options["ids"] = [*options.get("ids", []), *options.pop("job_ids", [])]
    run_operation(command, "cancel", "Cancel", options)
