"""Retry discarded, cancelled, retryable and completed jobs: available now, with an attempt left."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from .job_filters import add_operation_arguments, run_operation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_operation_arguments(parser)
    parser.add_argument(
        "--restart",
        action="store_true",
        help="Delete the jobs' saved progress (durable steps and iterations): everything runs again.",
    )


def handle(command: BaseCommand, **options: Any) -> None:
    run_operation(command, "retry", "Retry", options, restart=options.get("restart", False))
