"""``DJOBS["TESTING"] = "inline"``: every enqueue inserts its jobs and runs them at once.

Each row is inserted as usual (unique jobs still deduplicate: a duplicate is
returned, not run), marked executing under an ``inline-...`` worker id, run
through ``run_job`` and recorded with the fenced ``job_record_outcomes``;
terminal outcomes reach the ``after_terminal`` hooks. Jobs scheduled for later
run at once too. A job that raises has its failure recorded, then the
exception propagates out of ``enqueue`` so the test sees it.

A job enqueued by a job running inline runs right after that job returns, not
nested inside it (so a recursive backfill cannot exhaust Python's stack); its
``enqueue`` returns the row still available.
"""

from __future__ import annotations

import copy
from contextvars import ContextVar
from typing import TYPE_CHECKING

from django.db import transaction

from ..conf import get_settings
from ..db import get_ops
from ..hooks import hooks
from .running import guarded_run, helper_worker_id, mark_executing, record

if TYPE_CHECKING:
    from ..enqueue import PendingJob
    from ..models import Job

# Set while an inline run is in progress: the jobs waiting their turn.
_waiting: ContextVar[list[Job] | None] = ContextVar("djobs_inline_waiting", default=None)


def _insert(rows: list[PendingJob]) -> list[Job]:
    ops = get_ops()
    with transaction.atomic(using=ops.alias, savepoint=False):
        jobs = ops.job_insert_many(rows, chunk_size=get_settings().BULK_CHUNK_SIZE)
        hooks.after_insert(jobs)
    return jobs


def run_inline(rows: list[PendingJob]) -> list[Job]:
    """Insert ``rows``, run each new job now, and return the rows as they ended."""
    return run_inserted(_insert(rows))


def join_run(jobs: list[Job]) -> bool:
    """Add ``jobs`` (made runnable meanwhile: released workflow steps) to the inline run in progress.

    Return False when no inline run is in progress.
    """
    waiting = _waiting.get()
    if waiting is None:
        return False
    waiting.extend(jobs)
    return True


def run_inserted(jobs: list[Job]) -> list[Job]:
    """Run the new jobs among ``jobs``, just inserted, now; return the rows as they ended."""
    from ..models import Job

    # Copies: the rows returned to the caller keep their inserted state until refreshed.
    fresh = [copy.copy(job) for job in jobs if not job.duplicate]
    waiting = _waiting.get()
    if waiting is not None:
        waiting.extend(fresh)
        return jobs
    ops = get_ops()
    worker_id = helper_worker_id("inline")
    queue = list(fresh)
    token = _waiting.set(queue)
    try:
        while queue:
            job = mark_executing(ops, worker_id, queue.pop(0))
            if job is None:
                continue
            execution, transition = guarded_run(job, ops.alias, round_trip_arguments=False)
            record(ops, worker_id, job, transition)
            if execution.failed and execution.exception is not None:
                raise execution.exception
    finally:
        _waiting.reset(token)
    ended = Job.objects.using(ops.alias).in_bulk([job.id for job in jobs])
    refreshed = []
    for job in jobs:
        row = ended.get(job.id, job)
        row.duplicate = job.duplicate
        refreshed.append(row)
    return refreshed


__all__ = ["join_run", "run_inline", "run_inserted"]
