"""The interface every database module implements, with the parts SQL-standard enough to share.

Methods are named entity-then-verb (``job_insert_many``, ``job_claim``...).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from .flow import FlowOps
from .fragments import RESTORE_KEY_SQL, MovedJob
from .inserts import InsertOps
from .operator import OperatorOps
from .progress import ProgressOps
from .sessions import SessionOps
from .workers import WorkerOps
from .workflows import WorkflowOps
from .workflows_operator import WorkflowOperatorOps
from .workflows_pruning import WorkflowPruneOps
from .workflows_write import WorkflowWriteOps

if TYPE_CHECKING:
    from ..models import Job

# ``active`` is set in the dispatcher's own threads (claimers and the outcome
# recorder), whose sessions may trade commit durability for speed.
dispatcher_thread = threading.local()


#: The JSON texts most claimed rows hold (no arguments, no meta): made, not parsed.
_EMPTY_JSON: dict[str, Any] = {"[]": list, "{}": dict}


def _loads_json(value: Any) -> Any:
    """Return a claimed JSON column as Python: ``json.loads`` of text, a fresh empty one for ``[]``/``{}``.

    Drivers that decode JSON themselves hand over the value as it is.
    """
    if not isinstance(value, str):
        return value
    empty = _EMPTY_JSON.get(value)
    return empty() if empty is not None else json.loads(value)


class DatabaseOps(
    InsertOps,
    WorkerOps,
    OperatorOps,
    WorkflowOps,
    WorkflowWriteOps,
    WorkflowPruneOps,
    WorkflowOperatorOps,
    FlowOps,
    ProgressOps,
    SessionOps,
):
    """SQL for one database alias. Subclasses set the capability flags."""

    supports_listen_notify = False
    #: Whether a worker may hold a LISTEN session open for wake-ups (not behind a transaction pooler).
    supports_listen = False
    #: Whether the planner can estimate a query's rows cheaply (djobs.db.estimates).
    supports_row_estimates = False

    @property
    def json_max_depth(self) -> int | None:
        """How deep JSON may nest in a column, where the database allows less than djobs (else None)."""
        return None

    def explain_rows(self, sql: str, params: Sequence[Any]) -> int:
        """Return the planner's estimate of the rows ``sql`` yields (only where supports_row_estimates)."""
        raise NotImplementedError

    def __init__(self, alias: str) -> None:
        self.alias = alias

    # -- notifications ---------------------------------------------------------

    def notify_inserted(self, queues: Sequence[str]) -> None:
        """Wake listeners of ``queues`` at commit (only where supports_listen_notify)."""
        raise NotImplementedError

    def listen_connect(self) -> Any:
        """Open a dedicated connection listening for inserts (only where supports_listen_notify)."""
        raise NotImplementedError

    def listen_wait(self, conn: Any, timeout: float) -> list[str]:
        """Wait up to ``timeout`` s on ``conn``; return the queues woken (may be empty)."""
        raise NotImplementedError

    def listen_break(self, conn: Any) -> None:
        """Close ``conn`` abruptly, as a network failure would (for tests of the reconnect)."""
        raise NotImplementedError

    # -- the dispatcher ------------------------------------------------------
    # Claimed rows come back as these columns, in this order. The rest of the row
    # (errors, result, tags, unique key) is left out of the hot path:
    # the Job defers those fields and loads them if a job reads them.

    CLAIM_COLUMNS: tuple[str, ...] = (
        "id",
        "queue",
        "path",
        "args",
        "kwargs",
        "meta",
        "priority",
        "subpriority",
        "attempt",
        "max_attempts",
        "scheduled_at",
        # A django.tasks TaskResult's enqueued_at, in the task's context and signals.
        "inserted_at",
    )

    #: Whether change_counter() can tell cheaply that another connection committed.
    supports_change_counter = False
    #: Seconds a change may take to show in change_counter() (it is read at most this often).
    change_counter_interval = 0.0

    def change_counter(self) -> int:
        """Return a number that changes when another connection commits (this thread's)."""
        raise NotImplementedError

    def job_claim(self, *, queue: str, limit: int, worker_id: str, now: Any) -> list[Job]:
        """Move up to ``limit`` available jobs of ``queue`` to executing under ``worker_id``."""
        raise NotImplementedError

    def job_stage(self, *, now: Any, limit: int) -> dict[str, int]:
        """Make due scheduled/retryable jobs available; return how many per queue."""
        raise NotImplementedError

    def job_record_outcomes(self, *, worker_id: str, outcomes: Sequence[Any]) -> set[int]:
        """Write ``(job, transition)`` pairs, fenced; return the ids whose outcome held.

        A row is written only while it is still executing under ``worker_id``
        with the same attempt, so a rescued job's late outcome is dropped.
        """
        raise NotImplementedError

    #: Whether one transaction holding the write lock stops every other writer (SQLite).
    single_writer = False

    def job_complete_in_transaction(self, *, worker_id: str, job: Job, transition: Any) -> bool:
        """Write an atomic job's completion inside the caller's transaction; say whether it held.

        The same fenced statement as ``job_record_outcomes``: False means the
        attempt is no longer this worker's, and the caller must roll back.
        """
        if not self.connection.in_atomic_block:
            raise RuntimeError("job_complete_in_transaction needs the caller's transaction.atomic()")
        # Committed synchronously even under ASYNC_COMMIT: the transaction holds the
        # user's business writes, whose effects outside the database (a payment
        # confirmed, a mail sent after the commit) a lost commit could not undo.
        return job.id in self.job_record_outcomes(worker_id=worker_id, outcomes=[(job, transition)])

    #: Whether job_table_dead_rows/job_table_vacuum work (djobs.maintenance.vacuumer).
    supports_vacuum = False

    def job_table_dead_rows(self) -> tuple[int, int, bool]:
        """Return the jobs table's dead and live row versions (statistics) and whether a VACUUM runs."""
        raise NotImplementedError

    def job_table_can_vacuum(self) -> bool:
        """Say whether this connection's role may VACUUM the jobs table."""
        raise NotImplementedError

    def job_table_vacuum(self) -> None:
        """VACUUM the jobs table (outside any transaction); skip it if another VACUUM holds it."""
        raise NotImplementedError

    def job_mark_started(self, *, worker_id: str, started: Sequence[Job]) -> None:
        """Write the ``attempted_at`` of jobs that started, fenced like outcomes.

        A claimed job's ``attempted_at`` is NULL until then, which is how rescue
        and release tell a job that ran from one that waited for a thread.
        """
        raise NotImplementedError

    def job_rescue(self, *, now: Any, exclude_worker: str) -> list[MovedJob]:
        """Give back the executing jobs of workers with no registry row (presumed dead).

        ``exclude_worker`` (the caller's own id) is never rescued. A job that
        started keeps its attempt (discarded if it has none left); one that
        never started gets it back. Each gets an error entry saying which.
        """
        raise NotImplementedError

    def job_release(
        self, *, worker_id: str, jobs: Sequence[tuple[int, int]], now: Any, reason: str
    ) -> list[MovedJob]:
        """Hand back ``(id, attempt)`` pairs still executing under ``worker_id``, as rescue does.

        Unlike rescue it waits for a row another transaction has locked: one
        skipped would stay executing under this live worker, held by nobody.
        ``reason`` completes "worker <id> ..." in the error entry.
        """
        raise NotImplementedError

    def job_list_executing(self, *, worker_id: str) -> set[tuple[int, int]]:
        """Return the ``(id, attempt)`` of every job executing under ``worker_id``."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, attempt FROM djobs_job WHERE state = 'executing' AND worker_id = %s",
                [worker_id],
            )
            return {(int(pk), int(attempt)) for pk, attempt in cursor.fetchall()}

    def job_get_holders(self, ids: Sequence[int]) -> dict[int, tuple[str, str | None, int]]:
        """Return ``id -> (state, worker_id, attempt)`` for the jobs among ``ids`` (a primary-key read).

        The watchdog's check of its running jobs: a row no longer executing
        under its worker and attempt was cancelled or rescued meanwhile.
        """
        from ..models import Job

        rows = (
            Job.objects.using(self.alias)
            .filter(pk__in=list(ids))
            .values_list("id", "state", "worker_id", "attempt")
        )
        return {int(pk): (state, worker, int(attempt)) for pk, state, worker, attempt in rows}

    def job_restore_unique(self, ids: Sequence[int]) -> int:
        """Give jobs back the unique key they were enqueued with, where it is free; return how many.

        For jobs that came back to a state their uniqueness covers. If another
        job took the key meanwhile, both stay and this one has no key.
        """
        restored = 0
        for pk in ids:
            try:
                with transaction.atomic(using=self.alias), self.connection.cursor() as cursor:
                    cursor.execute(RESTORE_KEY_SQL, {"id": pk})
                    restored += cursor.rowcount
            except IntegrityError:
                continue  # taken by a job inserted meanwhile: both stay
        return restored

    def _restore_moved(self, moved: list[MovedJob]) -> list[MovedJob]:
        rekey = [job.id for job in moved if job.rekey]
        if rekey:
            self.job_restore_unique(rekey)
        return moved

    def job_delete_finished(self, *, state: str, before: Any, limit: int) -> int:
        """Delete up to ``limit`` jobs in ``state`` finished before ``before``; keep
        the jobs of batches that are not finished."""
        raise NotImplementedError

    def jobs_from_rows(self, rows: Sequence[Sequence[Any]], *, worker_id: str, now: Any) -> list[Job]:
        """Turn claimed rows (CLAIM_COLUMNS, then the rekey flag) into Job instances, cheaply.

        Model.__init__ costs more than everything else the dispatcher does per
        job, so the instances are built the way Model.from_db would, minus
        the per-field defaults: loaded fields in ``__dict__``, the rest deferred.
        """
        from django.db.models.base import ModelState

        from ..models import Job

        loads = _loads_json
        convert_dt = self.convert_datetime
        alias = self.alias
        new = Job.__new__
        jobs = []
        # The claim adds one column after CLAIM_COLUMNS: whether the row should take its
        # unique key back (job_claim restores those).
        for (
            pk,
            queue,
            path,
            args,
            kwargs,
            meta,
            priority,
            sub,
            attempt,
            max_attempts,
            due,
            inserted,
            _rk,
        ) in rows:
            job = new(Job)
            state = ModelState()
            state.adding = False
            state.db = alias
            job.__dict__.update(
                _state=state,
                id=pk,
                state="executing",
                queue=queue,
                path=path,
                args=loads(args),
                kwargs=loads(kwargs),
                meta=loads(meta),
                priority=priority,
                subpriority=sub,
                attempt=attempt,
                max_attempts=max_attempts,
                scheduled_at=convert_dt(due),
                inserted_at=convert_dt(inserted),
                attempted_at=None,
                finished_at=None,
                worker_id=worker_id,
            )
            jobs.append(job)
        return jobs

    def convert_datetime(self, value: Any) -> Any:
        """Return a datetime read by raw SQL as an aware datetime."""
        return value

    def adapt_datetime(self, value: Any) -> Any:
        """Return an aware datetime ready to bind as a parameter."""
        return self.connection.ops.adapt_datetimefield_value(value)

    # -- batches -----------------------------------------------------------------

    def batch_jobs(self, key: str) -> Any:
        """Return a queryset of the jobs tagged with batch ``key``, read through the batch index."""
        from django.db.models.fields.json import KT
        from django.db.models.lookups import Exact

        from ..models import Job

        # KT compared as text is the expression the batch indexes are on;
        # ``meta__batch_id=`` would compare JSON on PostgreSQL and miss them.
        return Job.objects.using(self.alias).filter(Exact(KT("meta__batch_id"), key))

    def _batch_active_jobs(self, key: str) -> Any:
        from ..states import ACTIVE_STATES

        # The state list is djobs_job_batch_active's condition, so the planner reads only that index.
        return self.batch_jobs(key).filter(state__in=sorted(ACTIVE_STATES))

    def batch_has_active_jobs(self, *, key: str) -> bool:
        """Say whether a job tagged with batch ``key`` is not terminal (one index probe)."""
        return bool(self._batch_active_jobs(key).exists())

    def batch_finish(self, *, batch_id: Any, key: str, now: Any) -> bool:
        """Move a running batch with no active job to finished; say whether this call did.

        Call inside a transaction, and insert the callbacks in it when True.
        """
        from django.db.models import Exists

        from ..models import Batch

        batches = Batch.objects.using(self.alias).filter(pk=batch_id, state="running")
        # Wait for a transaction adding jobs to this batch (it holds the row), so the
        # NOT EXISTS below, a statement with a new snapshot, sees the jobs it added.
        if self.connection.features.has_select_for_update and not list(
            batches.select_for_update().values_list("pk", flat=True)
        ):
            return False
        active = Exists(self._batch_active_jobs(key))
        return bool(batches.exclude(active).update(state="finished", finished_at=now))
