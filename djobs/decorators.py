"""The ``@job`` decorator and the enqueue API hanging off each job function."""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypeVar, overload

from . import registry
from .enqueue import ainsert_pending, insert_pending, pending_row, reused_builder, validate_options
from .exceptions import JobDefinitionError
from .signatures import bind_call
from .uniqueness import UniqueSpec, parse_unique

if TYPE_CHECKING:
    from .enqueue import PendingJob, RowBuilder
    from .models import Job

P = ParamSpec("P")
R = TypeVar("R")

BackoffFn = Callable[[int], float]


@dataclass(frozen=True)
class Call:
    """Positional and keyword arguments of one job, for ``enqueue_many``.

    ``send.enqueue_many([Call(1, lang="fr"), Call(2)])``; plain tuples (positional
    only) and dicts (keyword only) are accepted too.
    """

    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "kwargs", kwargs)


@dataclass(frozen=True)
class EnqueueOptions:
    """Per-enqueue overrides of the decorator's defaults; None means "not given"."""

    queue: str | None = None
    priority: int | None = None
    max_attempts: int | None = None
    schedule_in: float | None = None
    run_at: datetime | None = None
    meta: Mapping[str, Any] | None = None
    tags: Sequence[str] | None = None
    unique: Any = None


def _split_item(item: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(item, Call):
        return tuple(item.args), dict(item.kwargs)
    if isinstance(item, tuple | list):
        return tuple(item), {}
    if isinstance(item, Mapping):
        return (), dict(item)
    raise TypeError(
        f"enqueue_many item {item!r} must be a tuple of positional arguments, a dict of "
        "keyword arguments, or djobs.Call(*args, **kwargs)."
    )


class Enqueuer(Generic[P, R]):
    """A job function with enqueue options bound: what ``.using(...)`` returns."""

    def __init__(self, job_function: JobFunction[P, R], options: EnqueueOptions) -> None:
        self.job_function = job_function
        self.options = options
        #: The options' RowBuilder, kept by djobs.enqueue.reused_builder.
        self._builder: RowBuilder | None = None

    def using(self, **options: Any) -> Enqueuer[P, R]:
        """Return a copy with more options bound (queue, priority, schedule_in, run_at...)."""
        known = list(EnqueueOptions.__dataclass_fields__)
        unknown = [name for name in options if name not in known]
        if unknown:
            hints = [
                f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                for name in unknown
                for close in [difflib.get_close_matches(name, known, n=1)]
            ]
            raise TypeError(f"using() got unknown option(s) {', '.join(hints)}; use {', '.join(known)}.")
        merged = replace(self.options, **options)
        return Enqueuer(self.job_function, merged)

    def new(self, *args: P.args, **kwargs: P.kwargs) -> PendingJob:
        """Return the job that enqueue would insert, validated but not written."""
        return pending_row(reused_builder(self), args, kwargs)

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        """Insert one job; inside ``transaction.atomic()`` it exists only if that commits."""
        return insert_pending([self.new(*args, **kwargs)])[0]

    @overload
    def enqueue_many(self, items: Iterable[Any], *, return_jobs: Literal[True] = ...) -> list[Job]: ...

    @overload
    def enqueue_many(self, items: Iterable[Any], *, return_jobs: Literal[False]) -> int: ...

    def enqueue_many(self, items: Iterable[Any], *, return_jobs: bool = True) -> list[Job] | int:
        """Insert one job per item, streamed in chunks; one bad item refuses all (see djobs.bulk).

        ``items`` may be any iterable, a generator of millions included. With
        ``return_jobs=False`` it returns how many new jobs it inserted and builds
        no model instance.
        """
        from .bulk import call_chunks, insert_chunks

        chunks = call_chunks(self.job_function, self.options, items, _split_item)
        return insert_chunks(chunks, return_jobs=return_jobs)

    async def aenqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        """``enqueue`` for async code: validated here, inserted in Django's async ORM thread.

        Like the async ORM it runs outside any ``transaction.atomic()`` block: the
        job is committed when this returns (see the async jobs guide).
        """
        return (await ainsert_pending([self.new(*args, **kwargs)]))[0]

    @overload
    async def aenqueue_many(self, items: Iterable[Any], *, return_jobs: Literal[True] = ...) -> list[Job]: ...

    @overload
    async def aenqueue_many(self, items: Iterable[Any], *, return_jobs: Literal[False]) -> int: ...

    async def aenqueue_many(self, items: Iterable[Any], *, return_jobs: bool = True) -> list[Job] | int:
        """``enqueue_many`` for async code; one bad item refuses all, nothing is written."""
        from asgiref.sync import sync_to_async

        from .bulk import call_chunks, insert_chunks

        chunks = call_chunks(self.job_function, self.options, items, _split_item)
        return await sync_to_async(insert_chunks, thread_sensitive=True)(chunks, return_jobs=return_jobs)


def is_coroutine_function(func: Any) -> bool:
    """Say whether calling ``func`` returns a coroutine: an async def, or an object whose __call__ is one."""
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(type(func), "__call__", None)  # noqa: B004  (the class's, not the instance's)
    return not inspect.isfunction(func) and inspect.iscoroutinefunction(call)


def _refuse_unrunnable(func: Any, qualname: str, takes_context: bool) -> None:
    """Raise JobDefinitionError for functions a worker could not run to completion."""
    if inspect.isasyncgenfunction(func):
        raise JobDefinitionError(
            f"@job cannot run the async generator {qualname}: a worker would only get the generator "
            "back. Make it an async def that returns its result (collect the items in a list)."
        )
    if inspect.isgeneratorfunction(func):
        raise JobDefinitionError(
            f"@job cannot run the generator {qualname}: a worker would only get the generator back. "
            "Make it a function that returns its result (collect the items in a list)."
        )
    if not takes_context:
        return
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not params or params[0].kind not in (*positional, inspect.Parameter.VAR_POSITIONAL):
        kind = "async def" if is_coroutine_function(func) else "function"
        raise JobDefinitionError(
            f"@job(takes_context=True) on the {kind} {qualname}: it must take the JobContext as its "
            "first positional parameter, as in (context, ...). Add one, or drop takes_context."
        )


def _refuse_atomic(func: Any, qualname: str, atomic: Any) -> None:
    """Raise JobDefinitionError for an ``atomic`` value or function the worker could not honour."""
    if not isinstance(atomic, bool):
        raise JobDefinitionError(f"@job(atomic={atomic!r}) on {qualname}: use True or False.")
    if atomic and is_coroutine_function(func):
        # The async ORM runs each query in a thread of asgiref's choosing, outside
        # any transaction the worker could open around the coroutine.
        raise JobDefinitionError(
            f"@job(atomic=True) cannot run the async def {qualname} in one transaction: Django's "
            "async ORM commits each query on its own. Declare it with def (a sync job runs in one "
            "thread, so all its queries share the job's transaction), or drop atomic=True."
        )


class JobFunction(Enqueuer[P, R]):
    """A function registered with ``@job``; calling it still runs it directly.

    An ``async def`` is an async job (``is_async``): workers run it on their
    queue's event loop, and calling it directly returns the coroutine.
    """

    def __init__(
        self,
        func: Callable[P, R],
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
        tags: Sequence[str] = (),
        takes_context: bool = False,
        unique: Any = None,
        timeout: float | None = None,
        backoff: BackoffFn | None = None,
        atomic: bool = False,
    ) -> None:
        qualname = getattr(func, "__qualname__", "")
        if not callable(func) or "<locals>" in qualname or "<lambda>" in qualname:
            raise JobDefinitionError(
                f"@job needs a module-level function, not {qualname or func!r}: the worker "
                "finds it again by its dotted path. Move it to the top level of a module."
            )
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise JobDefinitionError(f"@job(timeout={timeout!r}): use seconds above 0, or None.")
        _refuse_unrunnable(func, qualname or repr(func), takes_context)
        if backoff is not None and not callable(backoff):
            raise JobDefinitionError(f"@job(backoff={backoff!r}) must be a function of the attempt.")
        _refuse_atomic(func, qualname or repr(func), atomic)
        self.func = func
        self.path = name or f"{func.__module__}.{qualname}"
        self.takes_context = takes_context
        self.is_async = is_coroutine_function(func)
        self.timeout = float(timeout) if timeout is not None else None
        self.backoff = backoff
        #: The body runs in one transaction with the job's completion (djobs.worker.atomic).
        self.atomic = atomic
        try:
            self.unique: UniqueSpec | None = parse_unique(unique)
        except ValueError as exc:
            raise JobDefinitionError(f"@job on {self.path}: {exc}") from None
        self.signature = inspect.signature(func)
        options = EnqueueOptions(queue=queue, priority=priority, max_attempts=max_attempts, tags=tuple(tags))
        # Validate the decorator's defaults now, at import, rather than at the first enqueue.
        try:
            validate_options(options)
        except (TypeError, ValueError) as exc:
            raise JobDefinitionError(f"@job on {self.path}: {exc}") from None
        super().__init__(self, options)
        functools.update_wrapper(self, func)
        registry.register(self)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<job {self.path}>"

    def bind_arguments(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Map a call's arguments to parameter names (for unique keys); raise TypeError."""
        return bind_call(*self._call_signature, args, kwargs)

    @functools.cached_property
    def _call_signature(self) -> tuple[inspect.Signature, str]:
        """The signature a call binds to (without the context) and its label, built once."""
        params = list(self.signature.parameters.values())
        if self.takes_context and params:
            params = params[1:]
        names = ", ".join(str(p).split(":")[0] for p in params)
        return self.signature.replace(parameters=params), f"{self.path}({names})"


@overload
def job(func: Callable[P, R], /) -> JobFunction[P, R]: ...


@overload
def job(
    *,
    name: str | None = ...,
    queue: str | None = ...,
    priority: int | None = ...,
    max_attempts: int | None = ...,
    tags: Sequence[str] = ...,
    takes_context: bool = ...,
    unique: Any = ...,
    timeout: float | None = ...,
    backoff: BackoffFn | None = ...,
    atomic: bool = ...,
) -> Callable[[Callable[P, R]], JobFunction[P, R]]: ...


def job(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Register a module-level function as a job.

    ::

        @job(queue="emails", max_attempts=5, priority=1)
        def send_welcome(user_id: int) -> None: ...

        send_welcome.enqueue(42)
        send_welcome.using(schedule_in=60).enqueue(42)

        @job(queue="webhooks", timeout=30)
        async def deliver(url: str) -> int: ...   # runs on the worker's event loop

        await deliver.aenqueue("https://example.com/hook")

    Options: ``queue``, ``priority`` (0 runs first, up to 9), ``max_attempts``,
    ``tags``, ``takes_context`` (pass a :class:`djobs.JobContext` first),
    ``unique`` (see the unique jobs guide), ``timeout`` (seconds), ``backoff``
    (a function of the attempt number returning seconds), ``atomic`` (run the
    body in one transaction with the job's completion: its database writes
    commit exactly once, see the durability docs) and ``name`` (the path to
    register under, if not ``module.function``).
    """
    if func is not None:
        return JobFunction(func, **options)

    def decorate(f: Callable[..., Any]) -> JobFunction[Any, Any]:
        return JobFunction(f, **options)

    return decorate
