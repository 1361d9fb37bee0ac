"""Delete jobs, except running ones and unfinished jobs of a batch."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from .job_filters import add_operation_arguments, run_operation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_operation_arguments(parser)


def handle(command: BaseCommand, **options: Any) -> None:
    run_operation(command, "delete", "Delete", options)
