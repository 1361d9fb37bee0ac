"""Run one job row in the test process the way the dispatcher does, and record its outcome.

The drain and the inline mode both claim (or mark) a row executing under their
own worker id, run it with ``run_job``, write the outcome with the fenced
``DatabaseOps.job_record_outcomes`` and call the ``after_terminal`` hooks, so
batch callbacks fire as they do under ``runjobs``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from ..hooks import TerminalJob, hooks
from ..states import JobState, is_covered
from ..worker.executor import Execution, run_job

if TYPE_CHECKING:
    from ..db.base import DatabaseOps
    from ..models import Job
    from ..transitions import Transition


def helper_worker_id(kind: str) -> str:
    """Return a worker id for rows run by a testing helper (``drain-1a2b...``)."""
    return f"{kind}-{uuid.uuid4().hex[:16]}"


def guarded_run(job: Job, alias: str, *, round_trip_arguments: bool = True) -> tuple[Execution, Transition]:
    """Run ``job`` with ``run_job``; inside a test's transaction, in a savepoint.

    Under ``runjobs`` a job runs in autocommit, so a database error in it cannot
    poison anything else. Inside ``TestCase``'s transaction it would (on
    PostgreSQL every later query fails), so a job that fails with a database
    error has its own writes rolled back to the savepoint; otherwise they stay.
    """
    connection = connections[alias]
    if not connection.in_atomic_block:
        return run_job(job, round_trip_arguments=round_trip_arguments)
    savepoint = _savepoint_create(using=alias)
    execution, transition = run_job(job, round_trip_arguments=round_trip_arguments)
    if isinstance(execution.exception, DatabaseError) or connection.needs_rollback:
        transaction.set_rollback(False, using=alias)
        transaction.savepoint_rollback(savepoint, using=alias)
    else:
        transaction.savepoint_commit(savepoint, using=alias)
    return execution, transition


def mark_executing(ops: DatabaseOps, worker_id: str, job: Job) -> Job | None:
    """Move one waiting job to executing under ``worker_id``, as a claim would.

    ``job`` is the row as last read; None comes back if it has left that state
    meanwhile (another job cancelled it, say).
    """
    if job.state not in (JobState.AVAILABLE, JobState.SCHEDULED, JobState.RETRYABLE):
        return None
    now = timezone.now()
    if not ops.job_mark_executing(job, worker_id=worker_id, now=now):
        return None
    job.state = JobState.EXECUTING
    job.attempted_at = now
    job.worker_id = worker_id
    if not is_covered(job.unique_states, JobState.EXECUTING):
        job.unique_key = None
    job.attempt += 1
    return job


def record(ops: DatabaseOps, worker_id: str, job: Job, transition: Transition) -> bool:
    """Write one outcome (fenced, as the dispatcher's recorder) and call the terminal hooks."""
    held = ops.job_record_outcomes(worker_id=worker_id, outcomes=[(job, transition)])
    if job.id not in held:
        return False
    if transition.is_terminal:
        hooks.after_terminal([TerminalJob(job.id, transition.state, job.queue, job.meta or {})])
    return True


__all__ = ["guarded_run", "helper_worker_id", "mark_executing", "record"]


# Django 6.1 renamed transaction.savepoint() to savepoint_create().
_savepoint_create = getattr(transaction, "savepoint_create", transaction.savepoint)
