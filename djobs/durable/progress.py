"""A running job's progress: loaded once per attempt, saved without a write per item.

Steps are saved by the job's own thread before ``ctx.step`` returns. An
iteration only notes its position after each item (one attribute write); at
a checkpoint it hands the position over (``SAVES``), and the worker's
progress writer thread (beside the heartbeat, djobs.worker.heartbeat) writes
what was handed over, one statement per job, woken by the hand-over. When
the job ends (returns, raises, is interrupted), the executor calls
:func:`finish`, which writes the last finished positions before the outcome
is recorded: an error resumes at the failing item, an interruption
loses nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.utils import timezone

from .errors import Interrupted, StepError

if TYPE_CHECKING:
    from ..db.base import DatabaseOps
    from ..models import Job
    from .models import JobProgress

logger = logging.getLogger("djobs")

# Both ride on the running Job instance, like the stop request (djobs.context).
_PROGRESS = "_djobs_progress"
_INTERRUPT = "_djobs_interrupt"

#: Longest step or iteration name.
NAME_MAX = 200


def _same(value: Any) -> Any:
    return value


_UNSET = object()


class Iteration:
    """One ``ctx.each``: the live position (the last finished item and the count) and the saved one.

    The loop only notes ``last`` (a row, or a callable source's cursor) per
    item, and ``items`` where it is read (djobs.durable.runtime._run);
    ``to_cursor`` turns ``last`` into the saved cursor at a hand-over, so a
    QuerySet's cursor is read from one row per checkpoint, not from every row.
    """

    __slots__ = ("cursor", "done", "items", "last", "name", "saved", "stop", "time_due", "to_cursor")

    def __init__(self, name: str, state: dict[str, Any] | None) -> None:
        state = state or {}
        self.name = name
        self.cursor: Any = state.get("cursor")
        self.items: int = int(state.get("items") or 0)
        self.done: bool = bool(state.get("done"))
        self.last: Any = _UNSET
        self.to_cursor: Callable[[Any], Any] = _same
        #: Set by the heartbeat thread when a time-based checkpoint is due.
        self.time_due = False
        #: Closes the loop (and the page it reads) when the job ends.
        self.stop: Callable[[], None] | None = None
        self.saved: tuple[Any, int, bool] = (self.cursor, self.items, self.done)

    def hand_over(self) -> None:
        """Make the live position the one saved next (one tuple, so a reader never sees half).

        Called in the job's thread: ``to_cursor`` may read the row.
        """
        if self.last is not _UNSET:
            cursor = self.to_cursor(self.last)
            _check_cursor(self.name, cursor)  # here, in the job's thread: the job fails saying why
            self.cursor = cursor
        self.saved = (self.cursor, self.items, self.done)


def _check_cursor(name: str, cursor: Any) -> None:
    try:
        json.dumps(cursor, allow_nan=False)
    except (TypeError, ValueError):
        raise StepError(
            f"ctx.each({name!r}): the cursor {cursor!r:.100} cannot be saved as JSON; yield cursors "
            "of plain data (a number, a string, a list of them), e.g. an id or an ISO timestamp."
        ) from None


class Progress:
    """The finished steps, iterations and interruptions of one job, for one attempt."""

    def __init__(self, job: Job, ops: DatabaseOps | None, row: JobProgress | None, atomic: bool) -> None:
        self.job = job
        #: None for a job that is not stored (perform_job): nothing is saved.
        self.ops = ops
        self.atomic = atomic
        self.steps: dict[str, Any] = {str(n): r for n, r in (row.steps if row else [])}
        self.iterations: dict[str, Iteration] = {
            str(n): Iteration(str(n), s) for n, s in (row.iterations if row else {}).items()
        }
        self.interruptions = row.interruptions if row else 0
        # A job its worker took just as the worker began stopping was not among the running
        # jobs it asked to stop: the worker's stopping flag asks it too.
        self.interrupt_requested = bool(job.__dict__.get(_INTERRUPT)) or job.worker_id in _STOPPING
        #: Read after every item: set with interrupt_requested or an iteration's time_due.
        self.attention = self.interrupt_requested
        self.current_step: str | None = None
        self._used: set[str] = set()
        self._lock = threading.Lock()
        self._written: Any = self._document() if row else None

    # -- names -------------------------------------------------------------------------------

    def use(self, name: Any, kind: str) -> None:
        """Reserve ``name`` for this run; a name used twice in one run is an error."""
        if not isinstance(name, str) or not name or len(name) > NAME_MAX:
            raise StepError(
                f"ctx.{kind}(name={name!r}): name the {kind} with a non-empty string of at most "
                f"{NAME_MAX} characters."
            )
        if name in self._used:
            raise StepError(
                f"ctx.{kind}({name!r}) is called a second time in job {self.job.pk} ({self.job.path}); "
                "a name stands for one step or iteration per job: give each call its own name."
            )
        self._used.add(name)

    def iteration(self, name: str) -> Iteration:
        """Return the iteration ``name``, as saved by an earlier attempt or new."""
        it = self.iterations.get(name)
        if it is None:
            with self._lock:  # the progress writer thread may be reading the dict
                it = self.iterations[name] = Iteration(name, None)
        return it

    # -- interruption ----------------------------------------------------------------------------

    def check(self, where: str) -> None:
        """Raise Interrupted if the worker asked running jobs to stop (never in an atomic job)."""
        if self.interrupt_requested and not self.atomic:
            self.interrupt(where)

    def interrupt(self, where: str) -> None:
        from ..conf import get_settings

        self.interruptions += 1
        self.interrupt_requested = False
        self.attention = False
        for it in self.iterations.values():
            it.hand_over()
        raise Interrupted(where, self.interruptions, get_settings().MAX_INTERRUPTIONS)

    # -- saving --------------------------------------------------------------------------------

    def record_step(self, name: str, result: Any) -> None:
        """Keep a finished step's result and save it now (it must outlive a crash right after)."""
        with self._lock:
            self.steps[name] = result
        self.save()

    def _document(self) -> tuple[list[Any], dict[str, Any], int]:
        iterations = {}
        for name, it in self.iterations.items():
            cursor, items, done = it.saved
            iterations[name] = {"cursor": cursor, "items": items, "done": done}
        return [[n, r] for n, r in self.steps.items()], iterations, self.interruptions

    def save(self, *, final: bool = False) -> bool:
        """Write what changed since the last write (fenced on the job's worker and attempt).

        ``final`` hands every iteration's live position over first: the job
        has stopped, so the last finished item is known. Returns whether a
        write happened and held.
        """
        if self.ops is None:
            return False
        with self._lock:
            if final:
                for it in self.iterations.values():
                    it.hand_over()
            document = self._document()
            if document == self._written:
                return False
            steps, iterations, interruptions = document
            held = self.ops.progress_save(
                job_id=int(self.job.pk),
                attempt=self.job.attempt,
                worker_id=str(self.job.worker_id),
                steps=steps,
                iterations=iterations,
                interruptions=interruptions,
                now=timezone.now(),
            )
            self._written = document
            return held


class PendingSaves:
    """The progress handed over at checkpoints, waiting for the progress writer thread to write it.

    The heartbeat thread also keeps the time of time-based checkpoints: it
    flags an iteration whose checkpoint is due (``tick``), and the job hands
    its cursor over after the item it is on, so the loop reads no clock.
    """

    def __init__(self) -> None:
        self._due: dict[int, Progress] = {}
        # id(iteration) -> (progress, iteration, seconds, monotonic deadline)
        self._timed: dict[int, tuple[Progress, Iteration, float, float]] = {}
        self._lock = threading.Lock()
        self._ended: set[int] = set()
        #: Set when a time-based checkpoint starts: the heartbeat thread re-reads its deadlines.
        self.wake = threading.Event()
        #: Set at each hand-over: the progress writer thread waits on it.
        self.due = threading.Event()

    def watch(self, progress: Progress, it: Iteration, seconds: float) -> None:
        """Flag ``it`` every ``seconds`` (from the heartbeat thread) until ``unwatch``."""
        with self._lock:
            self._timed[id(it)] = (progress, it, seconds, time.monotonic() + seconds)
        self.wake.set()  # the heartbeat thread waits until the earliest deadline

    def unwatch(self, it: Iteration) -> None:
        with self._lock:
            self._timed.pop(id(it), None)

    def next_deadline(self) -> float | None:
        """Return the monotonic time of the earliest time-based checkpoint, or None."""
        with self._lock:
            return min((entry[3] for entry in self._timed.values()), default=None)

    def tick(self, now: float) -> None:
        """Flag the iterations whose time-based checkpoint is due at ``now``."""
        with self._lock:
            for key, (progress, it, seconds, deadline) in list(self._timed.items()):
                if deadline <= now:
                    it.time_due = True
                    progress.attention = True
                    self._timed[key] = (progress, it, seconds, now + seconds)

    def hand_over(self, progress: Progress) -> None:
        with self._lock:
            self._due[id(progress)] = progress
            self._ended.discard(id(progress))
        self.due.set()

    def drop(self, progress: Progress) -> None:
        """Forget ``progress`` (its job ended): nothing of it is written or flagged any more."""
        with self._lock:
            self._due.pop(id(progress), None)
            self._ended.add(id(progress))
            for key, entry in list(self._timed.items()):
                if entry[0] is progress:
                    del self._timed[key]

    def write(self) -> int:
        """Write every progress handed over since the last call; return how many were written.

        A save that fails is queued again (unless its job ended meanwhile: the
        job's own last save replaces it), for the next call.
        """
        self.due.clear()
        with self._lock:
            due, self._due = list(self._due.values()), {}
            self._ended.clear()
        written = 0
        for progress in due:
            try:
                written += progress.save()
            except Exception as exc:  # the writer thread must go on
                if progress.ops is not None:
                    connections[progress.ops.alias].close_if_unusable_or_obsolete()
                logger.warning("djobs could not save the progress of job %s: %s", progress.job.pk, exc)
                with self._lock:
                    if id(progress) not in self._ended:
                        self._due.setdefault(id(progress), progress)
        return written

    @property
    def pending(self) -> bool:
        """Say whether some progress waits to be written (a hand-over, or a save that failed)."""
        with self._lock:
            return bool(self._due)


#: The process's pending saves: written by the worker's progress writer thread (djobs.worker.heartbeat).
SAVES = PendingSaves()


def progress_of(job: Job) -> Progress:
    """Return ``job``'s progress, reading it from the database on first use in this attempt."""
    progress: Progress | None = job.__dict__.get(_PROGRESS)
    if progress is None:
        from ..db import get_ops

        ops = None if job.pk is None else get_ops(job._state.db)
        row = ops.progress_get(int(job.pk)) if ops is not None else None
        progress = job.__dict__[_PROGRESS] = Progress(job, ops, row, atomic=_atomic(job))
    return progress


def _atomic(job: Job) -> bool:
    from .. import registry
    from ..exceptions import UnknownJobError

    try:
        return bool(getattr(registry.lookup(job.path, job.meta), "atomic", False))
    except UnknownJobError:
        return False


#: The ids of this process's workers that are shutting down.
_STOPPING: set[str | None] = set()


def worker_stopping(worker_id: str, stopping: bool = True) -> None:
    """Mark worker ``worker_id`` as shutting down (or no longer): its jobs' progress starts interrupted."""
    if stopping:
        _STOPPING.add(worker_id)
    else:
        _STOPPING.discard(worker_id)


def request_interrupt(job: Job) -> None:
    """Ask the running ``job`` to stop at its next safe point (``ctx.each`` item, ``ctx.checkpoint()``)."""
    job.__dict__[_INTERRUPT] = True
    progress: Progress | None = job.__dict__.get(_PROGRESS)
    if progress is not None:
        progress.interrupt_requested = True
        progress.attention = True


def uses_progress(job: Job) -> bool:
    """Say whether ``job`` used steps or iterations in this attempt (no query)."""
    return _PROGRESS in job.__dict__


def finish(job: Job) -> None:
    """Write ``job``'s last finished positions now that it stopped; call before recording its outcome.

    Nothing to do for a job that used no step or iteration. An atomic job's
    steps were written inside its transaction, which decided their fate.
    """
    progress: Progress | None = job.__dict__.get(_PROGRESS)
    if progress is None:
        return
    SAVES.drop(progress)
    if progress.atomic:
        return
    try:
        for it in list(progress.iterations.values()):
            if it.stop is not None:
                # A loop the job raised out of is closed here, in the job's thread: left
                # to the garbage collector, its server-side cursor could be closed in the
                # middle of another query on the same connection, which deadlocks psycopg.
                it.stop()
                it.stop = None
        progress.save(final=True)
    except Exception as exc:  # never in the way of recording the outcome
        # The job resumes from its last checkpoint instead: items repeat, none is lost.
        logger.warning("djobs could not save the progress of job %s: %s", job.pk, exc)


__all__ = [
    "SAVES",
    "Iteration",
    "PendingSaves",
    "Progress",
    "finish",
    "progress_of",
    "request_interrupt",
    "worker_stopping",
]
