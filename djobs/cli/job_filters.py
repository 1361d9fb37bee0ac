"""The filters the job subcommands share: --state --queue --path --batch --id, --all, --dry-run."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Q, QuerySet

from .. import operations
from ..admin.filters import batch_is
from ..conf import get_settings
from ..models import Job
from ..states import JobState


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the job filters to ``parser``: a repeated filter means any of its values; filters AND."""
    parser.add_argument("--state", action="append", default=[], choices=JobState.values, help="Job state.")
    parser.add_argument("--queue", action="append", default=[], help="Queue name.")
    parser.add_argument("--path", action="append", default=[], help="Dotted path of the @job function.")
    parser.add_argument("--batch", action="append", default=[], help="Batch id.")
    parser.add_argument("--id", action="append", default=[], type=int, dest="ids", help="Job id.")


def add_operation_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the filters plus --all and --dry-run."""
    add_filter_arguments(parser)
    parser.add_argument("--all", action="store_true", help="Act on every job (no filter given).")
    parser.add_argument("--dry-run", action="store_true", help="Say how many jobs would change; change none.")


def has_filter(options: dict[str, Any]) -> bool:
    return any(options.get(key) for key in ("state", "queue", "path", "batch", "ids"))


def selected_jobs(options: dict[str, Any]) -> QuerySet[Job]:
    """Return the jobs the filters in ``options`` select."""
    jobs = Job.objects.using(get_settings().DATABASE).all()
    if options.get("state"):
        jobs = jobs.filter(state__in=options["state"])
    if options.get("queue"):
        jobs = jobs.filter(queue__in=options["queue"])
    if options.get("path"):
        jobs = jobs.filter(path__in=options["path"])
    if options.get("ids"):
        jobs = jobs.filter(pk__in=options["ids"])
    batches = options.get("batch") or []
    if batches:
        condition = Q()
        for batch in batches:
            condition |= Q(batch_is(batch))
        jobs = jobs.filter(condition)
    return jobs


def run_operation(
    command: BaseCommand, name: str, verb: str, options: dict[str, Any], **arguments: Any
) -> int:
    """Apply operation ``name`` (with ``arguments``) to the selected jobs and print how many changed."""
    if not has_filter(options) and not options.get("all"):
        raise ValueError(
            f"Refusing to {name.replace('_', ' ')} every job: give a filter "
            "(--state, --queue, --path, --batch, --id) or --all."
        )
    jobs = selected_jobs(options)
    if options.get("dry_run"):
        count = operations.eligible(name, jobs).count()
        command.stdout.write(f"Would {verb.lower()} {count} job{'s' * (count != 1)} (dry run).")
        return count
    count = int(getattr(operations, name)(jobs, **arguments))
    past = {"retry": "Retried", "cancel": "Cancelled", "run_now": "Made available", "delete": "Deleted"}[name]
    command.stdout.write(f"{past} {count} job{'s' * (count != 1)}.")
    return count
