"""Operator actions on jobs: retry, cancel, run now, delete; and on queues (djobs.flow.queues).

Each takes a ``Job`` queryset or an iterable of job ids and returns how many
rows it changed. Each is one conditional ``UPDATE`` (or ``DELETE``) whose
``WHERE`` names the states it may act on, so it is safe beside running
workers: a job that moved on since it was selected is simply not counted.

::

    from djobs import operations
    from djobs.models import Job

    operations.retry(Job.objects.filter(state="discarded", path="shop.jobs.charge"))
    operations.cancel([41, 42])

Cancelling a running job marks the row ``cancelled`` at once. Its worker
notices within about a second (djobs.worker.cancels) and stops it:
``JobCancelled`` is raised in its thread (an async job's task is cancelled)
and its context's ``cancelled`` flag turns True. Whatever the job does then,
its outcome is not recorded (the dispatcher writes only rows still
``executing`` under its own process), so the job stays cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from .conf import get_settings
from .db import get_ops
from .db.fragments import MovedJob
from .flow.queues import limit_queue, pause_queue, queue_statuses, resume_queue, scale_queue
from .hooks import TerminalJob, hooks
from .models import Job
from .states import ACTIVE_STATES, TERMINAL_STATES, JobState

logger = logging.getLogger("djobs")

JobSelection = QuerySet[Job] | Iterable[int | str]

#: States each operation acts on; other rows are left alone and not counted.
RETRY_FROM: frozenset[str] = frozenset(
    {JobState.DISCARDED, JobState.CANCELLED, JobState.RETRYABLE, JobState.COMPLETED}
)
CANCEL_FROM: frozenset[str] = ACTIVE_STATES
RUN_NOW_FROM: frozenset[str] = frozenset({JobState.SCHEDULED, JobState.RETRYABLE})
# A running job is cancelled, not deleted: deleting it would lose what it is doing.
DELETE_FROM: frozenset[str] = frozenset(s for s in JobState.values if s != JobState.EXECUTING)

OPERATIONS: dict[str, frozenset[str]] = {
    "retry": RETRY_FROM,
    "cancel": CANCEL_FROM,
    "run_now": RUN_NOW_FROM,
    "delete": DELETE_FROM,
}


def _queryset(jobs: JobSelection) -> QuerySet[Job]:
    if isinstance(jobs, QuerySet):
        if jobs.model is not Job:
            raise TypeError(f"Expected a Job queryset, got one of {jobs.model.__name__}.")
        if jobs.query.is_sliced or jobs.query.distinct:
            # UPDATE cannot take LIMIT/DISTINCT; select the ids in a subquery instead
            # (read first where IN cannot take a LIMIT subquery: MySQL, MariaDB).
            picked = jobs.values_list("pk", flat=True)
            if not connections[jobs.db].features.allow_sliced_subqueries_with_in:
                return Job.objects.using(jobs.db).filter(pk__in=list(picked))
            return Job.objects.using(jobs.db).filter(pk__in=picked)
        return jobs.order_by()
    if isinstance(jobs, str | bytes | Job):
        raise TypeError(f"Expected a Job queryset or job ids, got {jobs!r}; wrap ids in a list.")
    ids: list[int] = []
    for value in jobs:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise ValueError(f"Job id {value!r} is not an integer.") from None
    return Job.objects.using(get_settings().DATABASE).filter(pk__in=ids)


def eligible(operation: str, jobs: JobSelection) -> QuerySet[Job]:
    """Return the rows of ``jobs`` that ``operation`` would change now (for dry runs)."""
    try:
        states = OPERATIONS[operation]
    except KeyError:
        raise ValueError(f"Unknown operation {operation!r}; use one of {', '.join(OPERATIONS)}.") from None
    queryset = _queryset(jobs).filter(state__in=sorted(states))
    if operation == "delete":
        queryset = queryset.exclude(_unfinished_batch_job())
    return queryset


def deletable(job: Job) -> bool:
    """Say whether ``delete`` would remove ``job`` as it is now (pure: no query)."""
    if job.state not in DELETE_FROM:
        return False
    return not (job.state in ACTIVE_STATES and "batch_id" in (job.meta or {}))


def _unfinished_batch_job() -> Q:
    # Deleting a pending job of a batch would leave the batch waiting for it forever.
    return Q(state__in=sorted(ACTIVE_STATES)) & Q(meta__has_key="batch_id")


def retry(jobs: JobSelection, *, restart: bool = False) -> int:
    """Make discarded, cancelled, retryable and completed jobs available now; return the count.

    A job with no attempt left gets one more (``max_attempts`` is raised to
    ``attempt + 1``); its errors stay as history. A unique job holds its key
    again where no other job took it meanwhile. A job with durable steps or
    iterations resumes from its saved progress; ``restart=True`` deletes that
    progress in the same transaction, so every step and item runs again. A
    completed job always restarts: its progress holds every step and a done
    iteration, so resuming would run nothing.
    """
    queryset = eligible("retry", jobs)
    ops = get_ops(queryset.db)
    if not restart:
        with transaction.atomic(using=queryset.db):
            completed = list(
                queryset.filter(state=JobState.COMPLETED).select_for_update().values_list("pk", flat=True)
            )
            count = ops.job_retry(queryset, now=timezone.now())
            if completed:
                ops.progress_delete(completed)
        return count
    with transaction.atomic(using=queryset.db):
        # Locked where the database can: a job retried and claimed meanwhile keeps its progress.
        ids = list(queryset.select_for_update().values_list("pk", flat=True))
        count = ops.job_retry(eligible("retry", ids).using(queryset.db), now=timezone.now())
        ops.progress_delete(ids)
    return count


def run_now(jobs: JobSelection) -> int:
    """Make scheduled and retryable jobs available now; return the count."""
    queryset = eligible("run_now", jobs)
    return get_ops(queryset.db).job_run_now(queryset, now=timezone.now())


def cancel(jobs: JobSelection) -> int:
    """Cancel jobs that are not finished yet, running ones included; return the count.

    A running job is stopped by its worker within about a second (``JobCancelled``
    in its thread); its outcome is not recorded, and it is never retried.
    """
    queryset = eligible("cancel", jobs)
    with transaction.atomic(using=queryset.db):
        ops, now = get_ops(queryset.db), timezone.now()
        cancelled = ops.job_cancel(queryset, now=now)
        if cancelled:
            # Why it ended, as the job's last error (django.tasks: TaskError's exception class).
            ops.job_note_cancelled([job.id for job in cancelled], now=now)
            _after_terminal(queryset.db, cancelled)
    return len(cancelled)


def delete(jobs: JobSelection) -> int:
    """Delete jobs that are not running (and not pending in a batch); return the count."""
    queryset = eligible("delete", jobs)
    # Job has no relations, so Django deletes in one statement (unless someone
    # connected delete signals to Job, which makes it fetch the rows first).
    deleted, _ = queryset.delete()
    return deleted


def _after_terminal(alias: str, cancelled: list[MovedJob]) -> None:
    """Tell the terminal hooks (batches) about the jobs this cancel ended, once it commits."""
    ended = [TerminalJob(id=job.id, state=job.state, queue=job.queue, meta=job.meta) for job in cancelled]
    transaction.on_commit(lambda: hooks.after_terminal(ended), using=alias)


# Whole workflows (djobs.workflows.operations); imported last, as they use cancel above.
from .workflows.operations import cancel_workflow, retry_workflow  # noqa: E402

__all__ = [
    "CANCEL_FROM",
    "DELETE_FROM",
    "RETRY_FROM",
    "RUN_NOW_FROM",
    "TERMINAL_STATES",
    "cancel",
    "cancel_workflow",
    "deletable",
    "delete",
    "eligible",
    "limit_queue",
    "pause_queue",
    "queue_statuses",
    "resume_queue",
    "retry",
    "retry_workflow",
    "run_now",
    "scale_queue",
]
