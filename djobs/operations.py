"""Operator actions on jobs: retry, cancel, run now, delete.

Each takes a ``Job`` queryset or an iterable of job ids and returns how many
rows it changed. Each is one conditional ``UPDATE`` (or ``DELETE``) whose
``WHERE`` names the states it may act on, so it is safe beside running
workers: a job that moved on since it was selected is simply not counted.

::

    from djobs import operations
    from djobs.models import Job

    operations.retry(Job.objects.filter(state="discarded", path="shop.jobs.charge"))
    operations.cancel([41, 42])

Cancelling a running job marks the row ``cancelled`` at once. The thread
running it is not interrupted (threads cannot be killed); when it ends, the
dispatcher's outcome write only touches rows still ``executing`` under its
own process, so the late result is not recorded and the job stays cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from importlib import import_module
from typing import Any

from django.db import transaction
from django.db.models import Case, F, PositiveIntegerField, Q, QuerySet, Value, When
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from .conf import get_settings
from .db import get_ops
from .models import Job
from .states import ACTIVE_STATES, STATE_BITS, TERMINAL_STATES, JobState

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
            # UPDATE cannot take LIMIT/DISTINCT; select the ids in a subquery instead.
            return Job.objects.using(jobs.db).filter(pk__in=jobs.values_list("pk", flat=True))
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


def _unique_key_in(state: str) -> Case:
    """Keep ``unique_key`` only where the row's ``unique_states`` mask covers ``state``."""
    return Case(
        When(GreaterThan(F("unique_states").bitand(STATE_BITS[state]), 0), then=F("unique_key")),
        default=Value(None),
    )


def retry(jobs: JobSelection) -> int:
    """Make discarded, cancelled, retryable and completed jobs available now; return the count.

    A job with no attempt left gets one more (``max_attempts`` is raised to
    ``attempt + 1``); its errors stay as history.
    """
    now = timezone.now()
    queryset = eligible("retry", jobs)
    with transaction.atomic(using=queryset.db):
        keyless = _keyless_unique_ids(queryset)
        count = queryset.update(
            state=JobState.AVAILABLE,
            scheduled_at=now,
            finished_at=None,
            max_attempts=Case(
                When(attempt__gte=F("max_attempts"), then=F("attempt") + 1),
                default=F("max_attempts"),
                output_field=PositiveIntegerField(),
            ),
            unique_key=_unique_key_in(JobState.AVAILABLE),
        )
        if keyless:
            # Back in a state its uniqueness covers: it holds its key again where free.
            get_ops(queryset.db).job_restore_unique(keyless)
    return count


def _keyless_unique_ids(queryset: Any) -> list[int]:
    """Return the ids of unique jobs in ``queryset`` whose key was cleared."""
    return list(
        queryset.filter(unique_key__isnull=True, unique_base__isnull=False).values_list("pk", flat=True)
    )


def run_now(jobs: JobSelection) -> int:
    """Make scheduled and retryable jobs available now; return the count."""
    queryset = eligible("run_now", jobs)
    with transaction.atomic(using=queryset.db):
        keyless = _keyless_unique_ids(queryset)
        count = queryset.update(
            state=JobState.AVAILABLE,
            scheduled_at=timezone.now(),
            unique_key=_unique_key_in(JobState.AVAILABLE),
        )
        if keyless:
            get_ops(queryset.db).job_restore_unique(keyless)
    return count


def cancel(jobs: JobSelection) -> int:
    """Cancel jobs that are not finished yet, running ones included; return the count.

    A running job keeps running in its thread, but its outcome is not recorded.
    """
    queryset = eligible("cancel", jobs)
    now = timezone.now()
    with transaction.atomic(using=queryset.db):
        count = queryset.update(
            state=JobState.CANCELLED,
            finished_at=now,
            unique_key=_unique_key_in(JobState.CANCELLED),
        )
        if count:
            _after_terminal(queryset.db, now)
    return count


def delete(jobs: JobSelection) -> int:
    """Delete jobs that are not running (and not pending in a batch); return the count."""
    queryset = eligible("delete", jobs)
    # Job has no relations, so Django deletes in one statement (unless someone
    # connected delete signals to Job, which makes it fetch the rows first).
    deleted, _ = queryset.delete()
    return deleted


def _after_terminal(alias: str, finished_at: datetime) -> None:
    """Tell batches (``djobs.worker.hooks.after_terminal``) about the jobs this cancel ended."""
    try:
        hooks = import_module("djobs.worker.hooks")
    except ImportError:
        return
    if not hooks.after_terminal:
        return
    # The rows this statement cancelled carry its exact finished_at; the partial
    # index on finished_at over terminal states finds them.
    rows = (
        Job.objects.using(alias)
        .filter(state=JobState.CANCELLED, finished_at=finished_at)
        .values_list("id", "state", "queue", "meta")
    )
    ended = [
        hooks.TerminalJob(id=pk, state=state, queue=queue, meta=meta or {}) for pk, state, queue, meta in rows
    ]
    if ended:
        # Like the dispatcher, run the hooks once the change is committed.
        transaction.on_commit(lambda: hooks.run_after_terminal(ended), using=alias)


__all__ = [
    "CANCEL_FROM",
    "DELETE_FROM",
    "RETRY_FROM",
    "RUN_NOW_FROM",
    "TERMINAL_STATES",
    "cancel",
    "deletable",
    "delete",
    "eligible",
    "retry",
    "run_now",
]
