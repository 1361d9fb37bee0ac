"""Callback specs: what ``on_complete=...`` and friends turn into before they are stored.

A callback is stored on ``Batch.callbacks`` as plain JSON, one entry per kind::

    {"on_complete": {"path": "reports.jobs.notify", "args": ["ops@example.com"],
                     "kwargs": {}, "options": {"queue": "emails"}}}

and runs later as ``notify(batch_id, counts, "ops@example.com")``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import registry
from ..conf import get_settings
from ..decorators import Enqueuer, JobFunction
from ..exceptions import UnknownJobError
from ..serialization import check_arguments

#: The callback kinds, in the order they are enqueued when several fire together.
KINDS: tuple[str, ...] = ("on_discard", "on_complete", "on_success")

# Enqueue options a callback keeps (``fn.using(queue=...)``); timing ones make no sense.
_KEPT_OPTIONS = ("queue", "priority", "max_attempts", "tags")


@dataclass(frozen=True)
class Callback:
    """A callback with extra arguments: ``callback(notify, "ops@example.com", urgent=True)``.

    The job is called as ``notify(batch_id, counts, "ops@example.com", urgent=True)``.
    """

    job: Any
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def callback(job: Any, *args: Any, **kwargs: Any) -> Callback:
    """Return ``job`` with extra arguments passed after the batch id and the counts."""
    return Callback(job, args, kwargs)


def _resolve(kind: str, job: Any) -> tuple[JobFunction[Any, Any], dict[str, Any]]:
    """Return the job function and the kept options of a callback target."""
    if isinstance(job, str):
        try:
            return registry.lookup(job), {}
        except UnknownJobError as exc:
            raise UnknownJobError(job) from exc
    if isinstance(job, Enqueuer):
        options = {
            name: list(value) if name == "tags" else value
            for name in _KEPT_OPTIONS
            if (value := getattr(job.options, name)) is not None and value != ()
        }
        if isinstance(job, JobFunction):
            return job, {}  # the decorator's own defaults apply at enqueue
        return job.job_function, options
    raise TypeError(
        f"{kind}={job!r} is not a job; pass an @job function, fn.using(...), its dotted path, "
        "or djobs.batches.callback(fn, *extra_args, **extra_kwargs)."
    )


def to_spec(kind: str, value: Any) -> dict[str, Any]:
    """Validate one callback and return its JSON spec; raise TypeError/UnknownJobError naming it."""
    if kind not in KINDS:
        raise ValueError(f"Unknown batch callback {kind!r}; use one of {', '.join(KINDS)}.")
    target, args, kwargs = (
        (value.job, value.args, value.kwargs) if isinstance(value, Callback) else (value, (), {})
    )
    job_function, options = _resolve(kind, target)
    # Checked as enqueue will check them when the callback runs, hours later perhaps.
    stored_args, stored_kwargs = check_arguments(
        args, kwargs, max_bytes=get_settings().MAX_ARGUMENTS_BYTES, where=f"{kind} "
    )
    # The callback must accept (batch_id, counts, *args, **kwargs): refuse it now,
    # not when the batch finishes hours later.
    try:
        job_function.bind_arguments((str(uuid.uuid4()), {}, *args), dict(kwargs))
    except TypeError as exc:
        raise TypeError(
            f"{kind}: {exc}. A batch callback is called as "
            f"{job_function.path}(batch_id, counts, *extra_args, **extra_kwargs)."
        ) from None
    spec: dict[str, Any] = {
        "path": job_function.path,
        "args": stored_args,
        "kwargs": stored_kwargs,
    }
    if options:
        spec["options"] = options
    return spec


def to_specs(callbacks: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the JSON specs of the callbacks that are given (None means "none")."""
    return {kind: to_spec(kind, value) for kind, value in callbacks.items() if value is not None}


__all__ = ["KINDS", "Callback", "callback", "to_spec", "to_specs"]
