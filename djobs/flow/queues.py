"""Operator actions on queues: pause, resume, scale, and limits changed at runtime.

Each writes the queue's state row (djobs.flow.models.QueueState), which
outlives worker restarts, and announces it: workers apply it within about a
second on PostgreSQL (NOTIFY) and within ``POLL_INTERVAL`` elsewhere.
Re-exported from :mod:`djobs.operations`::

    from djobs import operations

    operations.pause_queue("stripe")      # no new starts anywhere; running jobs finish
    operations.resume_queue("stripe")
    operations.scale_queue("stripe", 20)  # per-process concurrency, every worker
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from ..conf import get_settings, validate_queue_name
from ..db import get_ops


@dataclass(frozen=True)
class QueueStatus:
    """A queue as configured and as an operator left it."""

    name: str
    paused: bool
    concurrency: int | None
    scaled: bool
    global_limit: int | None
    rate_allowed: int | None
    rate_period: float | None
    partition_by: tuple[str, ...]


def _known_queues() -> set[str]:
    from ..models import WorkerProcess

    conf = get_settings()
    known = set(conf.QUEUES) | set(get_ops().queue_state_list())
    for queues in WorkerProcess.objects.using(conf.DATABASE).values_list("queues", flat=True):
        if isinstance(queues, dict):
            known.update(str(name) for name in queues)
    return known


def _check_queue(name: object) -> str:
    why = validate_queue_name(name)
    if why:
        raise ValueError(f"{why}.")
    assert isinstance(name, str)
    known = _known_queues()
    if name not in known:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known queues: {', '.join(sorted(known))}"
        raise ValueError(
            f"Queue {name!r} is not in DJOBS['QUEUES'] nor served by a live worker; {hint} "
            "(add it to DJOBS['QUEUES'] to control it before a worker serves it)."
        )
    return name


def _count(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} is {value!r}; use an integer of at least 1.")
    return value


def pause_queue(name: str) -> None:
    """Stop new starts of ``name``'s jobs on every worker; running jobs finish, enqueueing still works."""
    get_ops().queue_state_update(_check_queue(name), paused=True)


def resume_queue(name: str) -> None:
    """Let ``name``'s jobs start again after pause_queue."""
    get_ops().queue_state_update(_check_queue(name), paused=False)


def scale_queue(name: str, concurrency: int | None) -> None:
    """Set ``name``'s per-process concurrency on every worker, now and after restarts (None: as started)."""
    if concurrency is not None:
        _count(f"concurrency for queue {name!r}", concurrency)
    get_ops().queue_state_update(_check_queue(name), concurrency=concurrency)


def limit_queue(
    name: str, *, global_limit: int | None = None, rate_limit: tuple[int, float] | None = None
) -> None:
    """Override ``name``'s configured limits at runtime; 0 lifts a limit, None keeps the configured one.

    ``rate_limit`` is ``(allowed, period_seconds)``; ``(0, 0)`` lifts it.
    """
    fields: dict[str, Any] = {"global_limit": global_limit}
    if global_limit is not None and global_limit != 0:
        _count(f"global_limit for queue {name!r}", global_limit)
    if rate_limit is None:
        fields.update(rate_allowed=None, rate_period=None)
    else:
        allowed, period = rate_limit
        if allowed != 0:
            _count(f"rate_limit allowed for queue {name!r}", allowed)
            if isinstance(period, bool) or not isinstance(period, int | float) or period <= 0:
                raise ValueError(f"rate_limit period for queue {name!r} is {period!r}; use seconds above 0.")
        fields.update(rate_allowed=allowed, rate_period=float(period))
    get_ops().queue_state_update(_check_queue(name), **fields)


def queue_statuses() -> list[QueueStatus]:
    """Return every configured or controlled queue's state and effective limits, by name."""
    from .state import effective

    conf = get_settings()
    rows = get_ops().queue_state_list()
    statuses = []
    for name in sorted(set(conf.QUEUES) | set(rows)):
        flow = conf.QUEUE_FLOW.get(name)
        row = rows.get(name)
        view = effective(flow, conf.QUEUES.get(name, 0), row)
        limits = view.limits
        statuses.append(
            QueueStatus(
                name=name,
                paused=view.paused,
                concurrency=view.concurrency or None,
                scaled=bool(row and row.get("concurrency")),
                global_limit=limits.global_limit if limits else None,
                rate_allowed=limits.rate_allowed if limits else None,
                rate_period=limits.rate_period if limits else None,
                partition_by=flow.partition_by if flow else (),
            )
        )
    return statuses


__all__ = ["QueueStatus", "limit_queue", "pause_queue", "queue_statuses", "resume_queue", "scale_queue"]
