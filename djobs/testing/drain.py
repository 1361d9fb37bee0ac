"""``drain_queue``: run a queue's jobs in the test process, through the dispatcher's own SQL.

Jobs are claimed with ``DatabaseOps.job_claim`` under a worker id of the
drain's own, run with ``run_job`` and recorded with the fenced
``job_record_outcomes``, then the ``after_terminal`` hooks run: rows move
through exactly the states they do under ``runjobs``, and batch callbacks are
enqueued as in production.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils import timezone

from ..conf import get_settings, validate_queue_name
from ..db import get_ops
from ..states import STAGED_STATES, JobState
from .perform import PerformResult
from .running import guarded_run, helper_worker_id, mark_executing, record

if TYPE_CHECKING:
    from datetime import datetime

    from ..db.base import DatabaseOps
    from ..models import Job

#: Without ``with_limit``, a drain that has run this many jobs stops with an error:
#: something re-enqueues or snoozes itself forever, and a test must not hang.
MAX_RUNS = 10_000


class DrainLoopError(AssertionError):
    """drain_queue ran MAX_RUNS jobs and the queue was still not empty."""


class DrainResult(dict[str, int]):
    """How many runs ended in each outcome: ``{"completed": 3, "retryable": 1}``.

    Outcomes not seen read as 0 (``result["cancelled"] == 0``) but are not
    stored, so ``result == {"completed": 3}`` compares what happened.
    ``results`` holds a :class:`PerformResult` per run, in order.
    """

    def __init__(self) -> None:
        super().__init__()
        self.results: list[PerformResult] = []

    def __missing__(self, key: str) -> int:
        return 0

    @property
    def total(self) -> int:
        return sum(self.values())

    def add(self, result: PerformResult) -> None:
        self.results.append(result)
        name = result.transition.outcome
        self[name] = self[name] + 1

    def __repr__(self) -> str:
        return f"DrainResult({dict(self)!r})"


def _stage(ops: DatabaseOps, queue: str, now: datetime, *, future: bool, ran: set[int]) -> None:
    """Make the queue's due scheduled/retryable jobs available (all of them when ``future``).

    A job this drain already ran (snoozed, or failed with attempts left) is
    staged only when due: with ``future`` it would otherwise run again at once,
    forever.
    """
    from ..models import Job

    rows = Job.objects.using(ops.alias).filter(queue=queue, state__in=STAGED_STATES)
    due = [
        pk
        for pk, scheduled_at in rows.values_list("id", "scheduled_at")
        if scheduled_at <= now or (future and pk not in ran)
    ]
    if due:
        # The stager's move, unique-key rule included.
        ops.job_make_available(rows.filter(pk__in=due))


def drain_queue(
    queue: str | None = None,
    *,
    with_scheduled: bool = False,
    with_recursion: bool = True,
    with_safety: bool = True,
    with_limit: int | None = None,
) -> DrainResult:
    """Run the jobs of ``queue`` (default: DJOBS["DEFAULT_QUEUE"]) here and now; count outcomes.

    ::

        assert drain_queue("emails") == {"completed": 2}

    Jobs run one at a time in the dispatcher's order (priority, scheduled_at,
    id); an ``async def`` job runs to its end before the next (in async tests,
    use :func:`adrain_queue`). ``with_recursion`` (default) also runs the jobs those jobs enqueue,
    and retries that are due at once (``backoff=0``), until nothing is
    runnable; without it only the jobs runnable at the start run.
    ``with_scheduled`` runs jobs scheduled for later too. ``with_safety=False``
    records a failed run, then re-raises its exception in the test.
    ``with_limit`` stops quietly after that many runs; without it a drain
    stops with :class:`DrainLoopError` after ``MAX_RUNS``.
    """
    name = queue if queue is not None else get_settings().DEFAULT_QUEUE
    why = validate_queue_name(name)
    if why:
        raise ValueError(f"drain_queue(queue={name!r}): {why}.")
    if with_limit is not None and (isinstance(with_limit, bool) or not isinstance(with_limit, int)):
        raise TypeError(f"drain_queue(with_limit={with_limit!r}): use an integer, or None.")
    ops = get_ops()
    worker_id = helper_worker_id("drain")
    result = DrainResult()
    ran: set[int] = set()
    limit = with_limit if with_limit is not None else MAX_RUNS
    _stage(ops, name, timezone.now(), future=with_scheduled, ran=ran)
    if not with_recursion:
        # Exactly the jobs runnable now, in the dispatcher's order.
        for waiting in _waiting(ops, name, limit):
            job = mark_executing(ops, worker_id, waiting)
            if job is not None:
                _run_one(ops, worker_id, job, result, ran, with_safety)
        return result
    while result.total < limit:
        # One job per claim, so a job enqueued meanwhile with a better priority
        # runs before the rest, as under runjobs.
        jobs = ops.job_claim(queue=name, limit=1, worker_id=worker_id, now=timezone.now())
        if not jobs:
            # Dry: what became due meanwhile (retries, snoozes, the next step of a
            # recursive job) is staged, as the stager would, before giving up.
            now = timezone.now()
            _stage(ops, name, now, future=with_scheduled, ran=ran)
            jobs = ops.job_claim(queue=name, limit=1, worker_id=worker_id, now=now)
            if not jobs:
                return result
        _run_one(ops, worker_id, jobs[0], result, ran, with_safety)
    if with_limit is None and _runnable(ops, name, with_scheduled, ran):
        raise DrainLoopError(
            f"drain_queue({name!r}) ran {MAX_RUNS} jobs and the queue is still not empty: a job "
            "may re-enqueue itself, or snooze for 0 s, forever. Pass with_limit=N to stop after "
            f"N runs. Outcomes so far: {dict(result)}."
        )
    return result


def _run_one(
    ops: DatabaseOps, worker_id: str, job: Job, result: DrainResult, ran: set[int], with_safety: bool
) -> None:
    execution, transition = guarded_run(job, ops.alias, round_trip_arguments=False)
    record(ops, worker_id, job, transition)
    run = PerformResult(job, execution, transition)
    ran.add(job.id)
    result.add(run)
    if not with_safety:
        run.raise_if_failed()


def _waiting(ops: DatabaseOps, queue: str, limit: int) -> list[Job]:
    from ..models import Job

    rows = Job.objects.using(ops.alias).filter(queue=queue, state=JobState.AVAILABLE)
    return list(rows.order_by("priority", "subpriority", "scheduled_at", "id")[:limit])


def _runnable(ops: DatabaseOps, queue: str, with_scheduled: bool, ran: set[int]) -> bool:
    from ..models import Job

    _stage(ops, queue, timezone.now(), future=with_scheduled, ran=ran)
    return Job.objects.using(ops.alias).filter(queue=queue, state=JobState.AVAILABLE).exists()


async def adrain_queue(queue: str | None = None, **options: Any) -> DrainResult:
    """``drain_queue`` for async tests: ``assert await adrain_queue("webhooks") == {"completed": 2}``.

    Same arguments and result; async jobs are awaited on the test's event loop,
    everything else runs in Django's thread for sync code (see ``aperform_job``).
    """
    from asgiref.sync import sync_to_async

    return await sync_to_async(drain_queue, thread_sensitive=True)(queue, **options)


__all__ = ["MAX_RUNS", "DrainLoopError", "DrainResult", "adrain_queue", "drain_queue"]
