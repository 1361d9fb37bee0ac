"""Atomic jobs (``@job(atomic=True)``): the body's writes and the job's completion commit together.

The body runs inside ``transaction.atomic()`` on djobs' database. If it
returns, the completion is written in that transaction by the fenced
statement outcomes use (``DatabaseOps.job_complete_in_transaction``), the
terminal hooks marked ``in_transaction`` (batches, workflows) run there too,
and it commits. Anything else rolls the body back: an exception (``JobTimeout``
too), a Snooze/Cancel/Discard, an operator's cancel, and a fence that no
longer holds (the attempt was rescued while this worker was paused: its late
writes vanish). A failure is then recorded by the recorder in its own
transaction, as for any job.

SQLite has one writer: the transaction holds the write lock for the whole run,
so neither the recorder nor the heartbeat can write meanwhile. There the job's
start is written before the transaction begins, and the body runs in a
savepoint and the transaction, however the body ended, commits this worker's
heartbeat last when it ran longer than the heartbeat interval: the lock is
released by a commit that shows the worker alive, so a rescuer waiting for the
lock never reads a stale heartbeat.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from ..batches.tagging import BATCH_KEY
from ..conf import get_settings
from ..context import stop_request
from ..exceptions import JobTimeout
from ..hooks import TerminalJob, hooks
from ..outcomes import Snooze
from ..transitions import COMPLETED, Transition
from ..workflows.store import WORKFLOW_KEY
from .timeouts import raise_in_thread

if TYPE_CHECKING:
    from ..db.base import DatabaseOps
    from ..models import Job
    from .executor import Execution
    from .heartbeat import Heartbeat
    from .recorder import Recorder

logger = logging.getLogger("djobs")

# Set on a job whose attempt needs no recorder write: committed with its body, or fenced.
_SETTLED = "_djobs_atomic_settled"
#: Seconds before a job whose transaction could not begin runs again.
BEGIN_RETRY = 1.0
#: Set on a job by its producer: the monotonic time its timeout ends (None without one).
DEADLINE = "_djobs_deadline"


class AtomicCompletion:
    """What a worker needs to end an atomic job inside its transaction, and to account for it after."""

    def __init__(self, ops: DatabaseOps, worker_id: str, recorder: Recorder, heartbeat: Heartbeat) -> None:
        self.ops = ops
        self.worker_id = worker_id
        self.recorder = recorder
        self.heartbeat = heartbeat

    def prepare(self, job: Job) -> None:
        """Before the transaction: this worker's registry row names this connection's session.

        A rescuer terminates the sessions of a worker it presumes dead, so that a
        paused worker's open transaction lets go of its locks (and its late
        commit fails) before the rescued attempt needs them.
        """
        try:
            self.ops.worker_session_register(worker_id=self.worker_id)
        except DatabaseError as exc:  # not fatal: the fence still holds; rescue may wait on locks
            logger.warning("djobs could not register the session of atomic job %s: %s", job.id, exc)

    def begin(self, job: Job) -> None:
        """Inside the transaction: bound its lock waits by what is left of the job's timeout."""
        deadline = job.__dict__.get(DEADLINE)
        self.ops.session_lock_timeout(None if deadline is None else deadline - time.monotonic())

    def complete(self, job: Job, transition: Transition) -> bool:
        """Write the completion (fenced) and its batch/workflow accounting; say whether it held."""
        meta = job.meta
        ended = [_terminal(job, transition)] if meta and (BATCH_KEY in meta or WORKFLOW_KEY in meta) else []
        hooks.prepare_transaction(ended)  # the batch row before the job's (no deadlock)
        if not self.ops.job_complete_in_transaction(worker_id=self.worker_id, job=job, transition=transition):
            return False
        if ended:
            try:
                # A savepoint: the accounting's error rolls back to it, and the job's
                # completion still commits; after the commit the recorder's deferred
                # hooks check again, and the sweepers finish what is left.
                with transaction.atomic(using=self.ops.alias):
                    hooks.within_transaction(ended)
            except Exception:
                logger.exception(
                    "djobs job %s: its batch/workflow accounting failed inside its transaction; the "
                    "job completes, and the batch or workflow is finished after the commit or by the sweeper",
                    job.id,
                    extra={"job_id": job.id, "job_path": job.path},
                )
        return True

    def mark_started(self, job: Job) -> None:
        """On a single-writer database, write the start before the transaction takes the lock.

        The recorder writes starts later, and would wait behind this job's lock:
        a crash meanwhile would find the attempt not started, and give it back.
        """
        if not self.ops.single_writer or job.attempted_at is None:
            return
        try:
            self.ops.job_mark_started(worker_id=self.worker_id, started=[job])
        except DatabaseError as exc:  # not fatal: the completion carries the start too
            logger.warning("djobs could not write the start of atomic job %s: %s", job.id, exc)

    def beat(self, since: float) -> Callable[[], None] | None:
        """On a single-writer database, write this worker's heartbeat if the transaction ran long.

        Returns what tells the heartbeat once the transaction committed: the
        lock kept every other writer out since ``since``, so the silence that
        counts ends there.
        """
        if not (self.ops.single_writer and time.monotonic() - since >= self.heartbeat.interval):
            return None
        started = time.monotonic()
        held = self.ops.worker_heartbeat(
            worker_id=self.worker_id,
            hostname=self.heartbeat.hostname,
            pid=os.getpid(),
            queues=self.heartbeat.queues,
            now=timezone.now(),
        )
        return lambda: self.heartbeat.note(started, held, silent_until=since)

    def committed(self, job: Job, transition: Transition) -> None:
        """Account for a committed completion: the recorder's counts, holdings and deferred hooks."""
        self.recorder.written(job, transition)


def run(
    job: Job,
    execute: Callable[[], Execution],
    decide: Callable[[Execution], Transition],
    completion: AtomicCompletion | None,
) -> tuple[Execution, Transition]:
    """Run an atomic job's body in one transaction with its completion; return what happened.

    Without ``completion`` (the testing helpers) the body still commits only
    if it completes; the caller records the completion afterwards.
    """
    alias = completion.ops.alias if completion is not None else get_settings().DATABASE
    savepoint = completion is not None and completion.ops.single_writer
    if completion is not None:
        completion.mark_started(job)
        completion.prepare(job)
    began = time.monotonic()
    ended = "rolled back"
    commits: list[bool] = []
    noted: Callable[[], None] | None = None
    execution: Execution | None = None
    transition: Transition | None = None
    begun = False
    deadline = job.__dict__.get(DEADLINE)
    guard = _DeadlineGuard(deadline) if savepoint and deadline is not None else None
    try:
        try:
            with transaction.atomic(using=alias):
                begun = True
                if completion is not None:
                    # First of the commit's callbacks: once it ran, the transaction committed,
                    # whatever a later callback (or a JobTimeout landing now) raises.
                    transaction.on_commit(lambda: commits.append(True), using=alias)
                    completion.begin(job)
                with transaction.atomic(using=alias) if savepoint else contextlib.nullcontext():
                    execution = execute()
                    transition = decide(execution)
                    if transition.outcome != COMPLETED:
                        transaction.set_rollback(True, using=alias)
                    elif completion is None:
                        ended = "committed"
                    elif completion.complete(job, transition):
                        ended = "written"
                    else:
                        transaction.set_rollback(True, using=alias)
                        ended = "fenced"
                if completion is not None:
                    noted = completion.beat(began)
        finally:
            if guard is not None:
                guard.close()  # no JobTimeout from it once this returns
    except BaseException as exc:
        if commits and execution is not None and transition is not None:
            # After the commit: the attempt is written as it ended; only the error is told.
            logger.error(
                "djobs job %s %s attempt %d committed, then raised after its commit: %r",
                job.id,
                job.path,
                job.attempt,
                exc,
                exc_info=exc,
                extra={"job_id": job.id, "job_path": job.path, "attempt": job.attempt},
            )
        elif not begun and isinstance(exc, DatabaseError):
            # The transaction could not begin (SQLite's BEGIN IMMEDIATE waited out its
            # busy timeout behind another writer): the body never ran, so the attempt
            # is given back rather than counted as a failure.
            from .executor import Execution

            logger.warning(
                "djobs job %s %s: its transaction could not begin (%s); the attempt is given back and "
                "it runs again in %gs. On SQLite, raise the OPTIONS timeout in DATABASES above the "
                "longest atomic job (docs/concepts/durability.md)",
                job.id,
                job.path,
                exc,
                BEGIN_RETRY,
                extra={"job_id": job.id, "job_path": job.path, "attempt": job.attempt},
            )
            execution = Execution(value=Snooze(BEGIN_RETRY), duration=time.monotonic() - began)
            transition = decide(execution)
        else:
            # The completion's write or the commit failed, or a timeout arrived after
            # the body: nothing of the attempt is kept, and it fails like any job.
            from ..transitions import format_traceback
            from .executor import Execution

            ended = "rolled back"
            execution = Execution(
                exception=exc, traceback=format_traceback(exc), duration=time.monotonic() - began
            )
            transition = decide(execution)
    assert execution is not None and transition is not None
    if commits and noted is not None:
        noted()
    request = stop_request(job)
    if ended == "rolled back" and request is not None and not request.cancelled:
        # Stopped because its row was taken (rescued while this process was paused):
        # the fence would have refused its completion; the rollback is the same.
        ended = "fenced"
    elif (
        ended == "rolled back"
        and completion is not None
        and isinstance(execution.exception, DatabaseError)
        and _held(job, alias, completion.worker_id) is False
    ):
        # Its session was ended by the rescuer of a paused worker before this
        # process saw the row taken: a fence, not a failure of the job.
        ended = "fenced"
    if ended == "written" and completion is not None:
        job.__dict__[_SETTLED] = True
        completion.committed(job, transition)
    elif ended == "fenced" and _cancelled(job, alias):
        job.__dict__[_SETTLED] = True
        logger.info(
            "djobs job %s %s attempt %d was cancelled by an operator as it completed: its transaction "
            "rolled back and nothing it wrote was kept",
            job.id,
            job.path,
            job.attempt,
            extra={"job_id": job.id, "job_path": job.path, "attempt": job.attempt, "outcome": "cancelled"},
        )
    elif ended == "fenced":
        job.__dict__[_SETTLED] = True
        logger.warning(
            "djobs job %s %s attempt %d was fenced: this worker no longer holds the attempt "
            "(rescued or released meanwhile), so its transaction rolled back and nothing it wrote was kept",
            job.id,
            job.path,
            job.attempt,
            extra={"job_id": job.id, "job_path": job.path, "attempt": job.attempt, "outcome": "fenced"},
        )
    return execution, transition


class _DeadlineGuard:
    """On a single-writer database, raise ``JobTimeout`` in the job's thread at its deadline.

    The watchdog runs in the dispatcher's main loop, whose maintenance writes
    wait for the write lock this job's transaction holds: it would see the
    deadline only after the job committed, and the job would complete late.
    """

    def __init__(self, deadline: float) -> None:
        self._lock = threading.Lock()
        self._open = True
        self._thread_id = threading.get_ident()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._open:
                self._open = False
                raise_in_thread(self._thread_id, JobTimeout)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._open = False


def atomic_queues(default_queue: str) -> dict[str, str]:
    """Return the queue of each registered atomic job (path -> queue)."""
    from .. import registry

    queues = {}
    for path in registry.atomic_paths():
        options = getattr(registry.lookup(path), "options", None)
        queues[path] = getattr(options, "queue", None) or default_queue
    return queues


def sqlite_warning(atomic_queues: Mapping[str, str], served: Mapping[str, int]) -> str | None:
    """Return the start-up warning for atomic jobs (path -> queue) served among other threads, or None.

    Only for a single-writer database: each such job holds its only write lock.
    """
    threads = sum(served.values())
    paths = sorted(path for path, queue in atomic_queues.items() if queue in served)
    if not paths or threads <= 1:
        return None
    named = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return (
        f"djobs atomic jobs ({named}) run among {threads} threads on SQLite: each holds the database's "
        "only write lock for its whole run, so claims, outcomes and heartbeats wait for it. Keep them "
        "short, set the database's OPTIONS timeout above the longest, or serve them with one thread "
        "(docs/concepts/durability.md)"
    )


def settled(job: Job) -> bool:
    """Say whether an atomic job's attempt needs no recorder write (committed with its body, or fenced)."""
    return bool(job.__dict__.get(_SETTLED))


def _held(job: Job, alias: str, worker_id: str) -> bool | None:
    """Say whether ``job``'s row is still executing under ``worker_id`` at its attempt (None: unknown)."""
    from ..models import Job as JobModel

    connections[alias].close_if_unusable_or_obsolete()  # an ended session: reconnect
    try:
        row = (
            JobModel.objects.using(alias)
            .filter(pk=job.pk)
            .values_list("state", "worker_id", "attempt")
            .first()
        )
    except DatabaseError:
        return None
    return row == ("executing", worker_id, job.attempt)


def _cancelled(job: Job, alias: str) -> bool:
    """Say whether ``job`` was cancelled by an operator (why a fence failed, if not a rescue)."""
    request = stop_request(job)
    if request is not None and request.cancelled:
        return True
    from ..models import Job as JobModel

    try:
        state = JobModel.objects.using(alias).filter(pk=job.pk).values_list("state", flat=True).first()
    except DatabaseError:
        return False
    return state == "cancelled"


def _terminal(job: Job, transition: Transition) -> TerminalJob:
    return TerminalJob(job.id, transition.state, job.queue, job.meta or {})


__all__ = ["AtomicCompletion", "atomic_queues", "run", "settled", "sqlite_warning"]
