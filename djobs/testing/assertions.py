"""``assert_enqueued``, ``refute_enqueued`` and ``all_enqueued``: what did the code under test enqueue?

Matching is partial: ``kwargs`` and ``meta`` match when the job holds at least
the given keys with equal values (dicts compare recursively), ``args`` when
the job's positional arguments start with the given ones, ``tags`` when the
job has every given tag. ``kwargs`` compares arguments by parameter name, so
``kwargs={"user_id": 42}`` matches ``fn.enqueue(42)`` too. By default only
jobs still waiting to run (available, scheduled, retryable) are looked at;
pass ``state=`` to look elsewhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from .. import registry
from ..conf import get_settings
from .matching import Criteria, differences, job_line, rank

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from ..models import Job

# Rows read to find the closest candidates for a failure message.
_CANDIDATE_ROWS = 200
# Candidates listed in a failure message.
_SHOWN = 10


def _criteria(
    job: Any,
    args: Iterable[Any] | None,
    kwargs: Mapping[str, Any] | None,
    queue: str | None,
    priority: int | None,
    meta: Mapping[str, Any] | None,
    tags: Iterable[str] | None,
    state: str | Iterable[str] | None,
    scheduled_in: float | timedelta | None,
    scheduled_at: datetime | None,
    delta: float | timedelta,
) -> Criteria:
    return Criteria.build(
        job=job,
        args=args,
        kwargs=kwargs,
        queue=queue,
        priority=priority,
        meta=meta,
        tags=tags,
        state=state,
        scheduled_in=scheduled_in,
        scheduled_at=scheduled_at,
        delta=delta,
        now=timezone.now(),
    )


def _jobs() -> QuerySet[Job]:
    from ..models import Job

    return Job.objects.using(get_settings().DATABASE)


def _matching(criteria: Criteria) -> list[Job]:
    rows = _jobs().filter(state__in=criteria.states)
    if criteria.path is not None:
        rows = rows.filter(path=criteria.path)
    if criteria.queue is not None:
        rows = rows.filter(queue=criteria.queue)
    if criteria.priority is not None:
        rows = rows.filter(priority=criteria.priority)
    return [job for job in rows.order_by("id") if not differences(job, criteria)]


def _unknown_path_note(path: str) -> str:
    if registry.is_registered(path):
        return ""
    known = set(registry.registered_paths())
    known.update(_jobs().values_list("path", flat=True).distinct()[:500])
    close = difflib.get_close_matches(path, sorted(known), n=1, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"\nNote: {path!r} is not a registered @job path.{hint}"


def _candidates(criteria: Criteria) -> str:
    recent = list(_jobs().order_by("-id")[:_CANDIDATE_ROWS])
    if not recent:
        return "No jobs were enqueued at all."
    ranked = rank(recent, criteria)
    total = _jobs().count()
    lines = [f"Enqueued instead, closest first ({min(len(ranked), _SHOWN)} of {total}):"]
    for index, (job, why) in enumerate(ranked[:_SHOWN], start=1):
        lines.append(f"  {index}. {job_line(job)}")
        lines.extend(f"       - {reason}" for reason in why)
    return "\n".join(lines)


def all_enqueued(
    job: Any = None,
    *,
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
) -> list[Job]:
    """Return the enqueued jobs matching the criteria, oldest first.

    ``all_enqueued(job=send_email, queue="emails")``; the criteria are those
    of :func:`assert_enqueued`.
    """
    criteria = _criteria(
        job, args, kwargs, queue, priority, meta, tags, state, scheduled_in, scheduled_at, delta
    )
    return _matching(criteria)


def assert_enqueued(
    job: Any = None,
    *,
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
    count: int | None = None,
) -> Job:
    """Assert a matching job was enqueued and return it (the most recent one).

    ::

        assert_enqueued(job=send_invoice, kwargs={"invoice_id": 7}, queue="invoices")
        assert_enqueued(job="billing.jobs.remind", scheduled_in=3600)

    ``job`` is a ``@job`` function, a django.tasks Task or a dotted path.
    ``scheduled_in`` (seconds from now) and ``scheduled_at`` match within
    ``delta`` seconds (default 1). ``count`` asserts exactly that many match.
    ``state`` is a state or a list of them (default: available, scheduled,
    retryable; ``djobs.testing.ANY_STATE`` for all). On failure the message
    lists what was enqueued instead, closest first, with what differs.
    """
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"count={count!r}: use an integer of at least 1 (refute_enqueued for none).")
    criteria = _criteria(
        job, args, kwargs, queue, priority, meta, tags, state, scheduled_in, scheduled_at, delta
    )
    found = _matching(criteria)
    if found and (count is None or len(found) == count):
        return found[-1]
    states = ", ".join(criteria.states)
    if not found:
        message = f"Expected a job matching {criteria.describe()} in state {states}; found none."
        note = _unknown_path_note(criteria.path) if criteria.path else ""
        raise AssertionError(f"{message}{note}\n{_candidates(criteria)}")
    listed = "\n".join(f"  {job_line(j)}" for j in found[:_SHOWN])
    raise AssertionError(
        f"Expected {count} job(s) matching {criteria.describe()} in state {states}; "
        f"found {len(found)}:\n{listed}"
    )


def refute_enqueued(
    job: Any = None,
    *,
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
) -> None:
    """Assert no job matching the criteria (those of :func:`assert_enqueued`) was enqueued.

    ``refute_enqueued(job=send_email)`` passes when no such job is waiting to run.
    """
    criteria = _criteria(
        job, args, kwargs, queue, priority, meta, tags, state, scheduled_in, scheduled_at, delta
    )
    found = _matching(criteria)
    if found:
        listed = "\n".join(f"  {job_line(j)}" for j in found[:_SHOWN])
        more = f"\n  ... and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
        raise AssertionError(
            f"Expected no job matching {criteria.describe()} in state {', '.join(criteria.states)}; "
            f"found {len(found)}:\n{listed}{more}"
        )


__all__ = ["all_enqueued", "assert_enqueued", "refute_enqueued"]
