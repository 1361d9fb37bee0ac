"""Does a job row match what a test expects? Pure functions: no database.

``Criteria`` holds what ``assert_enqueued(...)`` was given; ``differences(job,
criteria, now)`` returns one readable line per way the row differs (empty
when it matches), which both the matching and the failure messages use.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import registry
from ..exceptions import UnknownJobError
from ..serialization import check_json, round_trip
from ..states import JobState

if TYPE_CHECKING:
    from ..decorators import JobFunction
    from ..models import Job

#: The states assert_enqueued looks at unless told otherwise: jobs still waiting to run.
WAITING_STATES: tuple[str, ...] = ("available", "retryable", "scheduled")
#: Every state, for ``state=ANY_STATE``.
ANY_STATE: tuple[str, ...] = tuple(str(state) for state in JobState.values)

_MISSING = object()


def job_path(job: Any) -> str:
    """Return the dotted path a job reference names.

    Accepts a ``@job`` function, one with options bound (``fn.using(...)``), a
    django.tasks Task (anything with ``.module_path``), a plain function or a
    dotted path string.
    """
    if isinstance(job, str):
        if not job or " " in job:
            raise ValueError(f"job={job!r} is not a dotted path; pass 'app.jobs.fn' or the function.")
        return job
    path = getattr(job, "path", None)
    if isinstance(path, str):
        return path
    inner = getattr(job, "job_function", None)
    if inner is not None and isinstance(getattr(inner, "path", None), str):
        return str(inner.path)
    module_path = getattr(job, "module_path", None)  # a django.tasks Task
    if isinstance(module_path, str):
        return module_path
    if callable(job) and hasattr(job, "__module__") and hasattr(job, "__qualname__"):
        return f"{job.__module__}.{job.__qualname__}"
    raise TypeError(
        f"job={job!r} is not a job reference; pass a @job function, a django.tasks Task "
        "or a dotted path string."
    )


def states_of(state: str | Iterable[str] | None) -> tuple[str, ...]:
    """Return the states ``state=`` selects; raise ValueError naming an unknown one."""
    if state is None:
        return WAITING_STATES
    chosen = tuple(str(s) for s in ((state,) if isinstance(state, str) else state))
    for name in chosen:
        if name not in ANY_STATE:
            raise ValueError(f"state={name!r} is not a job state; use one of {', '.join(ANY_STATE)}.")
    return chosen


def _json(value: Any, name: str) -> Any:
    check_json(value, name)
    return round_trip(value)


@dataclass(frozen=True)
class Criteria:
    """What a test expects of a job; None means "not checked"."""

    path: str | None = None
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    queue: str | None = None
    priority: int | None = None
    meta: dict[str, Any] | None = None
    tags: list[str] | None = None
    states: tuple[str, ...] = WAITING_STATES
    scheduled_at: datetime | None = None
    delta: float = 1.0

    @classmethod
    def build(
        cls,
        *,
        job: Any = None,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        queue: str | None = None,
        priority: int | None = None,
        meta: Mapping[str, Any] | None = None,
        tags: Iterable[str] | None = None,
        state: str | Iterable[str] | None = None,
        scheduled_in: float | timedelta | None = None,
        scheduled_at: datetime | None = None,
        delta: float | timedelta = 1.0,
        now: datetime,
    ) -> Criteria:
        """Validate the keyword arguments of an assertion; raise TypeError/ValueError naming one."""
        if scheduled_in is not None and scheduled_at is not None:
            raise ValueError("Give scheduled_in or scheduled_at, not both.")
        when = scheduled_at
        if scheduled_in is not None:
            if isinstance(scheduled_in, bool) or not isinstance(scheduled_in, int | float | timedelta):
                raise TypeError(f"scheduled_in={scheduled_in!r}: use seconds or a timedelta.")
            seconds = scheduled_in if isinstance(scheduled_in, timedelta) else timedelta(seconds=scheduled_in)
            when = now + seconds
        if isinstance(args, str | bytes | Mapping):
            raise TypeError(f"args={args!r}: pass a list of positional arguments, e.g. args=[42].")
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise TypeError(f"kwargs={kwargs!r}: pass a dict, e.g. kwargs={{'user_id': 42}}.")
        if meta is not None and not isinstance(meta, Mapping):
            raise TypeError(f"meta={meta!r}: pass a dict.")
        if isinstance(tags, str):
            raise TypeError(f"tags={tags!r}: pass a list of strings, e.g. tags=[{tags!r}].")
        return cls(
            path=None if job is None else job_path(job),
            args=None if args is None else _json(list(args), "args"),
            kwargs=None if kwargs is None else _json(dict(kwargs), "kwargs"),
            queue=queue,
            priority=priority,
            meta=None if meta is None else _json(dict(meta), "meta"),
            tags=None if tags is None else list(tags),
            states=states_of(state),
            scheduled_at=when,
            delta=delta.total_seconds() if isinstance(delta, timedelta) else float(delta),
        )

    def describe(self) -> str:
        """Return the criteria as the keyword arguments a test wrote."""
        parts = []
        if self.path is not None:
            parts.append(f"job={self.path!r}")
        for name in ("args", "kwargs", "queue", "priority", "meta", "tags"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value!r}")
        if self.scheduled_at is not None:
            parts.append(f"scheduled_at={self.scheduled_at.isoformat()} (±{self.delta:g}s)")
        return ", ".join(parts) or "(any job)"

    def checks_state(self) -> bool:
        return set(self.states) != set(ANY_STATE)


def _lookup(path: str) -> JobFunction[Any, Any] | None:
    try:
        return registry.lookup(path)
    except UnknownJobError:
        return None


def named_arguments(job: Job) -> dict[str, Any]:
    """Return the job's arguments by parameter name, however the call passed them.

    Positional arguments get their parameter's name and defaults fill in what
    the call left out, so ``kwargs={"user_id": 42}`` matches ``fn.enqueue(42)``.
    Without a registered function (or if its signature changed) the stored
    kwargs are all there is.
    """
    args, kwargs = list(job.args or []), dict(job.kwargs or {})
    function = _lookup(job.path)
    if function is None:
        return kwargs
    try:
        bound = function.bind_arguments(args, kwargs)
    except TypeError:
        return kwargs
    signature = getattr(function, "task_signature", None) or function.signature
    params = signature.parameters
    named: dict[str, Any] = {}
    for name, value in bound.items():
        kind = params[name].kind if name in params else None
        if kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        else:
            named[name] = value
    for name, param in params.items():
        if name in named or param.default is inspect.Parameter.empty:
            continue
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        try:
            named[name] = round_trip(param.default)
        except (TypeError, ValueError):
            continue
    return named


def json_equal(a: Any, b: Any) -> bool:
    """Say whether two JSON values are equal, ``True`` and ``1`` being different."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _subset_differences(expected: Mapping[str, Any], actual: Mapping[str, Any], where: str) -> list[str]:
    """Return how ``actual`` fails to contain ``expected`` (dicts compare recursively)."""
    found: list[str] = []
    for key, want in expected.items():
        have = actual.get(key, _MISSING)
        place = f"{where}[{key!r}]"
        if have is _MISSING:
            found.append(f"{place} is missing, expected {want!r}")
        elif isinstance(want, dict) and isinstance(have, dict):
            found.extend(_subset_differences(want, have, place))
        elif not json_equal(have, want):
            found.append(f"{place} is {have!r}, expected {want!r}")
    return found


def differences(job: Job, criteria: Criteria) -> list[str]:
    """Return one line per way ``job`` differs from ``criteria``; empty when it matches."""
    found: list[str] = []
    if criteria.path is not None and job.path != criteria.path:
        found.append(f"job is {job.path!r}, expected {criteria.path!r}")
    if criteria.states and job.state not in criteria.states:
        found.append(f"state is {job.state!r}, expected {' or '.join(repr(s) for s in criteria.states)}")
    if criteria.queue is not None and job.queue != criteria.queue:
        found.append(f"queue is {job.queue!r}, expected {criteria.queue!r}")
    if criteria.priority is not None and job.priority != criteria.priority:
        found.append(f"priority is {job.priority}, expected {criteria.priority}")
    if criteria.args is not None:
        have = list(job.args or [])
        want = criteria.args
        if not json_equal(have[: len(want)], want):
            found.append(f"args are {have!r}, expected them to start with {want!r}")
    if criteria.kwargs is not None:
        found.extend(_subset_differences(criteria.kwargs, named_arguments(job), "kwargs"))
    if criteria.meta is not None:
        found.extend(_subset_differences(criteria.meta, job.meta or {}, "meta"))
    if criteria.tags is not None:
        missing = [tag for tag in criteria.tags if tag not in (job.tags or [])]
        if missing:
            found.append(f"tags are {list(job.tags or [])!r}, missing {missing!r}")
    if criteria.scheduled_at is not None:
        off = (job.scheduled_at - criteria.scheduled_at).total_seconds()
        if abs(off) > criteria.delta:
            found.append(
                f"scheduled_at is {job.scheduled_at.isoformat()}, {off:+.1f}s from the expected "
                f"{criteria.scheduled_at.isoformat()} (±{criteria.delta:g}s)"
            )
    return found


def call_repr(job: Job) -> str:
    """Return ``path(arg, key=value)`` for a job, as the test would have enqueued it."""
    parts = [repr(a) for a in job.args or []]
    parts.extend(f"{k}={v!r}" for k, v in (job.kwargs or {}).items())
    text = f"{job.path}({', '.join(parts)})"
    return text if len(text) <= 200 else text[:197] + "..."


def job_line(job: Job) -> str:
    """Return one line describing a job row for failure messages."""
    extra = f" meta={job.meta!r}" if job.meta else ""
    return (
        f"#{job.pk} {call_repr(job)} queue={job.queue!r} priority={job.priority} "
        f"state={job.state!r} scheduled_at={job.scheduled_at.isoformat()}{extra}"
    )


def rank(jobs: Iterable[Job], criteria: Criteria) -> list[tuple[Job, list[str]]]:
    """Return ``(job, differences)`` pairs, closest first.

    The same job path comes first, then the fewest differences, then the most
    recent job.
    """
    scored = [(job, differences(job, criteria)) for job in jobs]
    scored.sort(
        key=lambda pair: (
            criteria.path is not None and pair[0].path != criteria.path,
            len(pair[1]),
            -(pair[0].pk or 0),
        )
    )
    return scored


__all__ = [
    "ANY_STATE",
    "WAITING_STATES",
    "Criteria",
    "call_repr",
    "differences",
    "job_line",
    "job_path",
    "named_arguments",
    "rank",
    "states_of",
]
