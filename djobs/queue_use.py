"""Which queues the project's code sends work to, to catch a served queue nobody uses (a typo).

A queue is used by a registered ``@job`` (its ``queue``, or ``DEFAULT_QUEUE``),
a periodic schedule (its ``queue`` option, or its job's), a djobs
``django.tasks`` backend's ``QUEUES``, and ``DEFAULT_QUEUE`` itself. Jobs sent
elsewhere with ``.using(queue=...)`` are not seen, so an unused queue is a
warning, never an error.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings

from . import registry
from .conf import get_settings
from .exceptions import UnknownJobError


def _job_queue(path: str, default: str) -> str | None:
    try:
        job_function = registry.lookup(path)
    except UnknownJobError:
        return None
    options = getattr(job_function, "options", None)
    return getattr(options, "queue", None) or default


def _schedule_queue(path: str, options: Mapping[str, Any] | None, default: str) -> str | None:
    queue = (options or {}).get("queue")
    return queue if isinstance(queue, str) and queue else _job_queue(path, default)


def _tasks_queues() -> set[str]:
    queues: set[str] = set()
    configured = getattr(settings, "TASKS", None)
    if not isinstance(configured, dict):
        return queues
    for params in configured.values():
        if isinstance(params, dict) and str(params.get("BACKEND", "")).startswith("djobs."):
            queues.update(q for q in params.get("QUEUES") or () if isinstance(q, str))
    return queues


def used_queues(*, with_database: bool = False) -> set[str]:
    """Return the queues the project's jobs, schedules and tasks use.

    ``with_database`` adds the schedules created in the admin (one query).
    """
    conf = get_settings()
    default = conf.DEFAULT_QUEUE
    used = {default} | _tasks_queues()
    for path in registry.registered_paths():
        queue = _job_queue(path, default)
        if queue:
            used.add(queue)
    periodic = conf.PERIODIC if isinstance(conf.PERIODIC, dict) else {}
    for entry in periodic.values():
        if isinstance(entry, dict) and isinstance(entry.get("job"), str):
            queue = _schedule_queue(entry["job"], {"queue": entry.get("queue")}, default)
            if queue:
                used.add(queue)
    if with_database:
        from .models import PeriodicSchedule

        for path, options in PeriodicSchedule.objects.using(conf.DATABASE).values_list("path", "options"):
            queue = _schedule_queue(path, options if isinstance(options, dict) else None, default)
            if queue:
                used.add(queue)
    return used


def unused_queue_messages(served: Iterable[str], used: set[str]) -> list[str]:
    """Return one message per served queue that nothing in ``used`` sends work to."""
    messages = []
    for name in served:
        if name in used:
            continue
        close = difflib.get_close_matches(name, sorted(used), n=1, cutoff=0.6)
        hint = f"Did you mean {close[0]!r}?" if close else f"Queues in use: {', '.join(sorted(used))}."
        messages.append(
            f"queue {name!r} is served but no registered job, schedule or task uses it; {hint} "
            "(Jobs sent there with .using(queue=...) still run.)"
        )
    return messages


__all__ = ["unused_queue_messages", "used_queues"]
