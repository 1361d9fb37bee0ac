"""Show the saved progress of jobs with durable steps or iterations: steps done, cursors, interruptions."""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand

from ..conf import get_settings
from ..db import get_ops
from ..durable.display import progress_lines, progress_view


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="+", type=int, metavar="JOB_ID", help="Job id.")
    parser.add_argument("--json", action="store_true", help="Print JSON instead of text.")


def handle(command: BaseCommand, **options: Any) -> None:
    ids = options["ids"]
    rows = get_ops(get_settings().DATABASE).progress_get_many(ids)
    if options["json"]:
        views = {str(pk): progress_view(rows.get(pk)) for pk in ids}
        command.stdout.write(json.dumps(views, default=str, sort_keys=True))
        return
    for pk in ids:
        for line in progress_lines(pk, rows.get(pk)):
            command.stdout.write(line)
