"""Turning calls into job rows: validation first, then one insert per chunk."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, overload

from django.db import transaction
from django.utils import timezone

from . import tracing
from .conf import get_settings, validate_queue_name
from .db import get_ops
from .exceptions import EnqueueError
from .flow.partition import bound_partition_key
from .hooks import hooks
from .serialization import check_arguments, check_json, compact_json
from .states import JobState
from .uniqueness import parse_unique, unique_key

if TYPE_CHECKING:
    from .db.base import DatabaseOps
    from .decorators import EnqueueOptions, Enqueuer, JobFunction
    from .models import Job

# Meta merged into every job enqueued while set (batches tag their jobs this way).
ambient_meta: ContextVar[dict[str, Any] | None] = ContextVar("djobs_ambient_meta", default=None)


@dataclass(slots=True)
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
    #: ``args`` and ``kwargs`` as compact JSON, when the builder already has the text
    #: (a bulk call's scalar arguments); None: the writer serialises them.
    args_json: str | None = None
    kwargs_json: str | None = None


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


#: Types whose JSON text is their round trip as is: no walk, no loads, no compare.
_SCALARS = frozenset({int, bool, type(None)})
#: How many arguments the scalar fast path looks at before leaving them to check_arguments.
_FAST_ARGS = 16
#: Distinct call shapes (positional count, keyword names) remembered per job function.
_SHAPES_KEPT = 64
_shapes: weakref.WeakKeyDictionary[Any, set[tuple[int, tuple[str, ...]]]] = weakref.WeakKeyDictionary()


def _plain_text(value: Any) -> bool:
    """Say whether ``value``'s JSON text is exact and storable everywhere, without looking closer."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    # ASCII holds no lone surrogate; only a NUL is left to refuse.
    return kind is str and value.isascii() and "\x00" not in value


def fast_arguments(
    args: Sequence[Any], kwargs: dict[str, Any], max_bytes: int | None
) -> tuple[str, str] | None:
    """Return the JSON of ``args`` and ``kwargs`` if they are a few ints or ASCII strings, else None.

    What check_arguments would accept and give back unchanged, found without its
    round trip; anything else (floats, nesting, non-ASCII, too large) is left to it.
    """
    if len(args) + len(kwargs) > _FAST_ARGS:
        return None
    for value in args:
        if not _plain_text(value):
            return None
    for key, value in kwargs.items():
        if type(key) is not str or not key.isidentifier() or not key.isascii() or not _plain_text(value):
            return None
    args_json = compact_json(args) if args else "[]"
    kwargs_json = compact_json(kwargs) if kwargs else "{}"
    if max_bytes is not None and len(args_json) + len(kwargs_json) > max_bytes:
        return None  # check_arguments names the largest part
    return args_json, kwargs_json


class RowBuilder:
    """One enqueue call's options, validated once, turning each job's arguments into its row."""

    def __init__(self, job_function: JobFunction[Any, Any], options: EnqueueOptions) -> None:
        validate_options(options)
        conf = get_settings()
        self.conf = conf
        self.job_function = job_function
        self.path = job_function.path
        self.queue = options.queue or conf.DEFAULT_QUEUE
        self.options = options
        self.max_bytes = conf.MAX_ARGUMENTS_BYTES
        self.priority = options.priority if options.priority is not None else conf.DEFAULT_PRIORITY
        self.max_attempts = (
            options.max_attempts if options.max_attempts is not None else conf.DEFAULT_MAX_ATTEMPTS
        )
        self.tags = list(options.tags or ())
        ambient = ambient_meta.get()
        meta = dict(ambient or {})
        meta.update(options.meta or {})
        self.meta = meta
        # What one call's options make stays valid for the next calls while the
        # settings stay and no batch tags them, unless the options hold a dict or a
        # list the caller may still change.
        self.reusable = (
            ambient is None
            and options.meta is None
            and isinstance(options.tags, tuple | None)
            and not isinstance(options.unique, dict | list)
        )
        self.spec = parse_unique(options.unique) if options.unique is not None else job_function.unique
        flow = conf.QUEUE_FLOW.get(self.queue)
        self.partition_by = flow.partition_by if flow is not None and flow.partition_by else None
        # Unique keys and partitions read the arguments by name; otherwise the
        # binding only checks the call's shape, which one good call vouches for.
        self.needs_arguments = self.spec is not None or self.partition_by is not None
        shapes = _shapes.get(job_function)
        if shapes is None:
            shapes = _shapes[job_function] = set()
        self.shapes = shapes

    def times(self, now: datetime) -> tuple[datetime, str]:
        """Return when a job enqueued at ``now`` is due, and the state that makes it."""
        options = self.options
        if options.run_at is not None:
            scheduled_at = options.run_at
            if timezone.is_naive(now):  # USE_TZ = False: Django's datetimes are naive local times
                scheduled_at = timezone.make_naive(scheduled_at)
        elif options.schedule_in is not None:
            delay = options.schedule_in
            scheduled_at = now + (delay if isinstance(delay, timedelta) else timedelta(seconds=delay))
        else:
            return now, JobState.AVAILABLE
        return scheduled_at, JobState.SCHEDULED if scheduled_at > now else JobState.AVAILABLE

    def row(
        self,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        *,
        now: datetime,
        scheduled_at: datetime,
        state: str,
        meta: dict[str, Any],
        tags: list[str],
    ) -> PendingJob:
        """Validate one call and return its row; ``meta`` and ``tags`` are used as given (not copied)."""
        fast = fast_arguments(args, kwargs, self.max_bytes)
        if fast is not None:
            job_args, job_kwargs = list(args), dict(kwargs)
        else:
            # One JSON pass checks the arguments and gives them back as the job will see them.
            job_args, job_kwargs = check_arguments(args, kwargs, max_bytes=self.max_bytes)
        arguments = None
        shape = (len(job_args), tuple(job_kwargs))
        if self.needs_arguments or shape not in self.shapes:
            arguments = self.job_function.bind_arguments(job_args, job_kwargs)
            if len(self.shapes) < _SHAPES_KEPT:
                self.shapes.add(shape)
        key = None
        spec = self.spec
        if spec is not None:
            assert arguments is not None
            key = unique_key(spec, path=self.path, queue=self.queue, arguments=arguments, now=now)
        partition = None
        if self.partition_by is not None:
            assert arguments is not None
            partition = bound_partition_key(
                path=self.path,
                queue=self.queue,
                signature=self.job_function.signature,
                arguments=arguments,
                names=self.partition_by,
            )
        return PendingJob(
            self.path,
            self.queue,
            job_args,
            job_kwargs,
            meta,
            tags,
            self.priority,
            self.max_attempts,
            state,
            scheduled_at,
            now,
            key,
            spec.mask if spec is not None else 0,
            0,
            partition,
            {},
            fast[0] if fast is not None else None,
            fast[1] if fast is not None else None,
        )


def build_pending(
    job_function: JobFunction[Any, Any],
    args: Sequence[Any],
    kwargs: dict[str, Any],
    options: EnqueueOptions,
) -> PendingJob:
    """Validate one call and return its row; nothing is written."""
    return pending_row(RowBuilder(job_function, options), args, kwargs)


def reused_builder(enqueuer: Enqueuer[Any, Any]) -> RowBuilder:
    """Return the RowBuilder of ``enqueuer``'s options, built once and kept while it stays valid.

    An Enqueuer's options do not change, so validating them, reading the
    settings and parsing a unique spec need not happen at every call; the
    builder is dropped when the settings change or a batch tags the calls.
    """
    builder = enqueuer._builder
    if builder is not None and builder.conf is get_settings() and ambient_meta.get() is None:
        return builder
    builder = RowBuilder(enqueuer.job_function, enqueuer.options)
    enqueuer._builder = builder if builder.reusable else None
    return builder


def pending_row(builder: RowBuilder, args: Sequence[Any], kwargs: dict[str, Any]) -> PendingJob:
    """Validate one call with ``builder`` and return its row, with meta and tags of its own."""
    now = timezone.now()
    scheduled_at, state = builder.times(now)
    return builder.row(
        args,
        kwargs,
        now=now,
        scheduled_at=scheduled_at,
        state=state,
        meta=dict(builder.meta) if builder.meta else {},
        tags=list(builder.tags),
    )


@overload
def insert_pending(pending: Iterable[PendingJob], *, return_jobs: Literal[True] = ...) -> list[Job]: ...


@overload
def insert_pending(pending: Iterable[PendingJob], *, return_jobs: bool) -> list[Job] | int: ...


def insert_pending(pending: Iterable[PendingJob], *, return_jobs: bool = True) -> list[Job] | int:
    """Insert validated rows, returning a Job per row in order (or, ``return_jobs=False``, how many are new).

    A row whose unique key is already held comes back as the existing job with
    ``duplicate = True``. In ``TESTING = "inline"`` mode each job runs at once.
    """
    rows = list(pending)
    if not rows:
        return [] if return_jobs else 0
    # One span per call, bulk or not; each row's meta carries its trace context.
    with tracing.enqueue_span(rows) as span:
        result = _insert(rows, return_jobs=return_jobs)
        if isinstance(result, list):
            tracing.enqueued(span, result)
    return result


def _insert(rows: list[PendingJob], *, return_jobs: bool = True) -> list[Job] | int:
    conf = get_settings()
    if conf.TESTING == "inline":
        from .testing.inline import run_inline

        jobs = run_inline(rows)
        return jobs if return_jobs else sum(1 for job in jobs if not job.duplicate)
    ops = get_ops()
    notify = conf.NOTIFY and ops.supports_listen_notify
    if _single_statement(ops, rows):
        job = ops.job_insert_one(rows[0], notify=notify and rows[0].state == JobState.AVAILABLE)
        return [job] if return_jobs else 1
    with transaction.atomic(using=ops.alias, savepoint=False):
        if return_jobs or hooks.insert_applies(rows):
            jobs = ops.job_insert_many(rows, chunk_size=conf.BULK_CHUNK_SIZE)
            hooks.after_insert(jobs)
            count = sum(1 for job in jobs if not job.duplicate)
        else:
            # Nothing needs the instances: no model is built for a plain row.
            jobs = []
            count = ops.job_insert_rows(rows, chunk_size=conf.BULK_CHUNK_SIZE)
        if notify:
            queues = sorted({row.queue for row in rows if row.state == JobState.AVAILABLE})
            if queues:
                ops.notify_inserted(queues)
    return jobs if return_jobs else count


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


@overload
def enqueue_many(pending: Iterable[PendingJob], *, return_jobs: Literal[True] = ...) -> list[Job]: ...


@overload
def enqueue_many(pending: Iterable[PendingJob], *, return_jobs: bool) -> list[Job] | int: ...


def enqueue_many(pending: Iterable[PendingJob], *, return_jobs: bool = True) -> list[Job] | int:
    """Insert jobs of different functions at once: ``enqueue_many([a.new(1), b.new(x=2)])``.

    Any iterable, streamed in chunks (see :mod:`djobs.bulk`); ``return_jobs=False``
    returns how many new jobs were inserted and builds no model instance.
    """
    from .bulk import insert_chunks, pending_chunks

    return insert_chunks(pending_chunks(pending, "enqueue_many"), return_jobs=return_jobs)


async def aenqueue_many(pending: Iterable[PendingJob], *, return_jobs: bool = True) -> list[Job] | int:
    """``enqueue_many`` for async code (committed when it returns, as ``aenqueue``)."""
    from asgiref.sync import sync_to_async

    from .bulk import insert_chunks, pending_chunks

    chunks = pending_chunks(pending, "aenqueue_many")
    return await sync_to_async(insert_chunks, thread_sensitive=True)(chunks, return_jobs=return_jobs)


__all__ = [
    "PendingJob",
    "RowBuilder",
    "aenqueue_many",
    "ainsert_pending",
    "build_pending",
    "enqueue_many",
    "insert_pending",
    "pending_row",
    "reused_builder",
]
