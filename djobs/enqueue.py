"""Turning calls into job rows: validation first, then one insert per chunk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from . import tracing
from .conf import get_settings, validate_queue_name
from .exceptions import EnqueueError
from .flow.partition import bound_partition_key
from .hooks import hooks
from .serialization import check_arguments, check_json
from .states import JobState
from .uniqueness import parse_unique, unique_key

if TYPE_CHECKING:
    from .db.base import DatabaseOps
    from .decorators import EnqueueOptions, JobFunction
    from .models import Job

# Meta merged into every job enqueued while set (batches tag their jobs this way).
ambient_meta: ContextVar[dict[str, Any] | None] = ContextVar("djobs_ambient_meta", default=None)


@dataclass
class PendingJob:
    """A validated job row not yet written."""

    path: str
    queue: str
    args: list[Any]
    kwargs: dict[str, Any]
    meta: dict[str, Any]
    tags: list[str]
    priority: int
    max_attempts: int
    state: str
    scheduled_at: datetime
    inserted_at: datetime
    unique_key: str | None = None
    unique_states: int = 0
    #: Order within ``priority``, lower first: a django.tasks priority, negated.
    subpriority: int = 0
    #: The values of the queue's partition_by arguments (djobs.flow.partition); None if not partitioned.
    partition_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _check_int(name: str, value: Any, low: int, high: int | None) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise EnqueueError(f"{name}={value!r} is not valid; use an integer {bound}.")


def validate_options(options: EnqueueOptions) -> None:
    """Raise EnqueueError/TypeError naming the first bad option."""
    if options.queue is not None:
        why = validate_queue_name(options.queue)
        if why:
            raise EnqueueError(f"queue={options.queue!r} is not valid: {why}.")
    if options.priority is not None:
        _check_int("priority", options.priority, 0, 9)
    if options.max_attempts is not None:
        _check_int("max_attempts", options.max_attempts, 1, None)
    if options.schedule_in is not None and (
        isinstance(options.schedule_in, bool) or not isinstance(options.schedule_in, int | float | timedelta)
    ):
        raise EnqueueError(f"schedule_in={options.schedule_in!r} is not valid; use seconds or a timedelta.")
    if options.run_at is not None:
        if not isinstance(options.run_at, datetime):
            raise EnqueueError(f"run_at={options.run_at!r} is not valid; use an aware datetime.")
        if timezone.is_naive(options.run_at):
            raise EnqueueError(
                f"run_at={options.run_at!r} is naive; pass an aware datetime "
                "(django.utils.timezone.now() + timedelta(...), or one with tzinfo)."
            )
    if options.run_at is not None and options.schedule_in is not None:
        raise EnqueueError("Give schedule_in or run_at, not both.")
    if options.meta is not None:
        if not isinstance(options.meta, dict):
            raise EnqueueError(f"meta={options.meta!r} is not valid; use a dict.")
        check_json(options.meta, "meta")
    if options.tags is not None and (
        isinstance(options.tags, str) or not all(isinstance(t, str) for t in options.tags)
    ):
        raise EnqueueError(f"tags={options.tags!r} is not valid; use a list of strings.")


def build_pending(
    job_function: JobFunction[Any, Any],
    args: Sequence[Any],
    kwargs: dict[str, Any],
    options: EnqueueOptions,
) -> PendingJob:
    """Validate one call and return its row; nothing is written."""
    validate_options(options)
    conf = get_settings()
    # One JSON pass checks the arguments and gives them back as the job will see them.
    job_args, job_kwargs = check_arguments(args, kwargs, max_bytes=conf.MAX_ARGUMENTS_BYTES)
    arguments = job_function.bind_arguments(job_args, job_kwargs)
    now = timezone.now()
    queue = options.queue or conf.DEFAULT_QUEUE
    if options.run_at is not None:
        scheduled_at = options.run_at
        if timezone.is_naive(now):  # USE_TZ = False: Django's datetimes are naive local times
            scheduled_at = timezone.make_naive(scheduled_at)
    elif options.schedule_in is not None:
        delay = options.schedule_in
        scheduled_at = now + (delay if isinstance(delay, timedelta) else timedelta(seconds=delay))
    else:
        scheduled_at = now
    state = JobState.SCHEDULED if scheduled_at > now else JobState.AVAILABLE
    meta = dict(ambient_meta.get() or {})
    meta.update(options.meta or {})
    spec = parse_unique(options.unique) if options.unique is not None else job_function.unique
    key = None
    if spec is not None:
        key = unique_key(spec, path=job_function.path, queue=queue, arguments=arguments, now=now)
    flow = conf.QUEUE_FLOW.get(queue)
    partition = None
    if flow is not None and flow.partition_by:
        partition = bound_partition_key(
            path=job_function.path,
            queue=queue,
            signature=job_function.signature,
            arguments=arguments,
            names=flow.partition_by,
        )
    return PendingJob(
        path=job_function.path,
        queue=queue,
        args=job_args,
        kwargs=job_kwargs,
        meta=meta,
        tags=list(options.tags or ()),
        priority=options.priority if options.priority is not None else conf.DEFAULT_PRIORITY,
        max_attempts=(
            options.max_attempts if options.max_attempts is not None else conf.DEFAULT_MAX_ATTEMPTS
        ),
        state=state,
        scheduled_at=scheduled_at,
        inserted_at=now,
        unique_key=key,
        unique_states=spec.mask if spec is not None else 0,
        partition_key=partition,
    )


def insert_pending(pending: Iterable[PendingJob]) -> list[Job]:
    """Insert validated rows, returning a Job per row in order.

    A row whose unique key is already held comes back as the existing job with
    ``duplicate = True``. In ``TESTING = "inline"`` mode each job runs at once.
    """
    rows = list(pending)
    if not rows:
        return []
    # One span per call, bulk or not; each row's meta carries its trace context.
    with tracing.enqueue_span(rows) as span:
        jobs = _insert(rows)
        tracing.enqueued(span, jobs)
    return jobs


def _insert(rows: list[PendingJob]) -> list[Job]:
    from .db import get_ops

    conf = get_settings()
    if conf.TESTING == "inline":
        from .testing.inline import run_inline

        return run_inline(rows)
    ops = get_ops()
    notify = conf.NOTIFY and ops.supports_listen_notify
    if _single_statement(ops, rows):
        return [ops.job_insert_one(rows[0], notify=notify and rows[0].state == JobState.AVAILABLE)]
    with transaction.atomic(using=ops.alias, savepoint=False):
        jobs = ops.job_insert_many(rows, chunk_size=conf.BULK_CHUNK_SIZE)
        if notify:
            queues = sorted({job.queue for job in jobs if job.state == JobState.AVAILABLE})
            if queues:
                ops.notify_inserted(queues)
        hooks.after_insert(jobs)
    return jobs


async def ainsert_pending(pending: Iterable[PendingJob]) -> list[Job]:
    """``insert_pending`` from async code, in the thread where Django runs the async ORM.

    That thread has its own connection in autocommit (the async ORM cannot run
    inside ``atomic()``), so the rows are committed when this returns; in
    inline mode the jobs run there too.
    """
    from asgiref.sync import sync_to_async

    rows = list(pending)
    if not rows:
        return []
    return await sync_to_async(insert_pending, thread_sensitive=True)(rows)


def _single_statement(ops: DatabaseOps, rows: list[PendingJob]) -> bool:
    """Say whether ``rows`` can go in as one autocommit statement (insert and notify)."""
    return (
        len(rows) == 1
        and rows[0].unique_key is None
        and ops.supports_single_statement_insert
        and ops.connection.get_autocommit()
        # A hook that acts on these rows (batches growing their size) must share
        # their transaction.
        and not hooks.insert_applies(rows)
    )


def enqueue_many(pending: Iterable[PendingJob]) -> list[Job]:
    """Insert jobs of different functions at once: ``enqueue_many([a.new(1), b.new(x=2)])``."""
    items = list(pending)
    for index, item in enumerate(items):
        if not isinstance(item, PendingJob):
            raise TypeError(f"enqueue_many item {index} is {item!r}; build items with job_function.new(...).")
    return insert_pending(items)


async def aenqueue_many(pending: Iterable[PendingJob]) -> list[Job]:
    """``enqueue_many`` for async code (committed when it returns, as ``aenqueue``)."""
    items = list(pending)
    for index, item in enumerate(items):
        if not isinstance(item, PendingJob):
            raise TypeError(
                f"aenqueue_many item {index} is {item!r}; build items with job_function.new(...)."
            )
    return await ainsert_pending(items)


__all__ = ["PendingJob", "aenqueue_many", "ainsert_pending", "enqueue_many", "insert_pending"]
