"""Every read and write of a batch row, each a conditional statement safe beside other processes.

Who fires a callback is decided by the row count of a conditional ``UPDATE``
on the batch row (``state = 'running'`` -> ``'finished'``, ``discarded_at IS
NULL`` -> now), in the same transaction as the callback's insert: however many
workers see the last jobs finish at once, exactly one of them changes the row.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..conf import get_settings
from ..db import get_ops
from ..models import Batch, BatchState
from ..states import ACTIVE_STATES, TERMINAL_STATES, JobState
from .callbacks import enqueue_callbacks
from .errors import BatchFinishedError

# The same list, in the same order, as the partial index djobs_job_batch_active:
# SQLite only uses a partial index whose WHERE terms appear verbatim in the query.
_ACTIVE = sorted(ACTIVE_STATES)
DISCARD_STATES = frozenset({JobState.DISCARDED, JobState.CANCELLED})


def _alias() -> str:
    return get_settings().DATABASE


def parse_key(key: Any) -> uuid.UUID | None:
    """Return the batch id in a job's ``meta["batch_id"]``, or None if it is not one."""
    if isinstance(key, uuid.UUID):
        return key
    try:
        return uuid.UUID(str(key))
    except ValueError:
        return None


def jobs_of(key: str, alias: str | None = None) -> Any:
    """Return the jobs tagged ``key``, filtered the way the database's batch index is read."""
    return get_ops(alias or _alias()).batch_jobs(key)


def active_jobs_of(key: str, alias: str | None = None) -> Any:
    """Return the unfinished jobs tagged ``key`` (read through djobs_job_batch_active only)."""
    return jobs_of(key, alias).filter(state__in=_ACTIVE)


def has_active_jobs(key: str) -> bool:
    """Say whether the batch still has jobs that are not terminal: one index probe."""
    return get_ops().batch_has_active_jobs(key=key)


def count_by_state(key: str, alias: str | None = None) -> dict[str, int]:
    """Return the batch's jobs per state, terminal states always present (reads every job once)."""
    counts = {state: 0 for state in sorted(TERMINAL_STATES)}
    rows = jobs_of(key, alias).order_by().values_list("state").annotate(n=Count("id"))
    for state, n in rows:
        counts[state] = n
    return counts


def create(*, description: str, callbacks: Mapping[str, Any], meta: Mapping[str, Any]) -> Batch:
    """Insert an open batch."""
    return Batch.objects.using(_alias()).create(
        description=description, callbacks=dict(callbacks), meta=dict(meta), state=BatchState.OPEN
    )


def grow(key: str, n: int) -> None:
    """Add ``n`` inserted jobs to the batch's size; refuse them if the batch already finished.

    Runs in the insert's transaction. On PostgreSQL the update holds the batch
    row until that commits, so a concurrent finish waits and then sees the new
    jobs, or finished first and this refuses them.
    """
    batch_id = parse_key(key)
    if batch_id is None:
        return
    batches = Batch.objects.using(_alias()).filter(pk=batch_id)
    grown = batches.exclude(state=BatchState.FINISHED).update(size=Coalesce(F("size"), Value(0)) + n)
    if not grown and batches.exists():
        raise BatchFinishedError(
            f"Batch {key} already finished and fired its callbacks; {n} job(s) cannot join it. "
            "Add jobs before the batch's last job ends (context.enqueue_in_batch from one of its "
            "jobs), or enqueue them without the batch."
        )


def seal(batch_id: uuid.UUID, added: int) -> bool:
    """Seal an open batch with ``added`` more jobs; finish it if nothing is left to run.

    Return False if it was not open.
    """
    alias = _alias()
    with transaction.atomic(using=alias):
        sealed = (
            Batch.objects.using(alias)
            .filter(pk=batch_id, state=BatchState.OPEN)
            .update(
                state=BatchState.RUNNING,
                sealed_at=timezone.now(),
                size=Coalesce(F("size"), Value(0)) + added,
            )
        )
        if sealed:
            # Correct when every job already finished before the seal, and for an empty batch.
            finish_if_done(str(batch_id))
    return bool(sealed)


def lock(key: str) -> None:
    """Lock the batch row in the caller's transaction (where the database can), until it ends."""
    batch_id = parse_key(key)
    alias = _alias()
    if batch_id is not None and get_ops(alias).connection.features.has_select_for_update:
        list(Batch.objects.using(alias).select_for_update().filter(pk=batch_id).values_list("pk", flat=True))


def finish_if_done(key: str) -> bool:
    """Finish the batch if it is sealed and none of its jobs is active; return True if this call did.

    The callbacks are inserted in the transaction that moved the row from
    ``running`` to ``finished``, so they are enqueued once and only once.
    """
    batch_id = parse_key(key)
    if batch_id is None or has_active_jobs(key):
        return False
    alias = _alias()
    with transaction.atomic(using=alias):
        won = get_ops(alias).batch_finish(batch_id=batch_id, key=key, now=timezone.now())
        if not won:
            return False
        counts = count_by_state(key, alias)
        row = Batch.objects.using(alias).values("callbacks", "meta", "discarded_at").get(pk=batch_id)
        kinds = ["on_complete"]
        if all(counts.get(state, 0) == 0 for state in DISCARD_STATES):
            kinds.append("on_success")
        now_discarded = False
        if row["discarded_at"] is None and any(counts.get(s, 0) for s in DISCARD_STATES):
            # The hook that saw the first discard never ran (a crash): fire it now.
            now_discarded = bool(
                Batch.objects.using(alias)
                .filter(pk=batch_id, discarded_at__isnull=True)
                .update(discarded_at=timezone.now())
            )
        if now_discarded:
            kinds.insert(0, "on_discard")
        fired = enqueue_callbacks(key, row["callbacks"] or {}, kinds, counts)
        meta = dict(row["meta"] or {})
        meta["fired"] = {**meta.get("fired", {}), **fired}
        Batch.objects.using(alias).filter(pk=batch_id).update(
            counts=counts, size=sum(counts.values()), meta=meta
        )
    return True


def mark_discarded(key: str) -> bool:
    """Record the batch's first discarded or cancelled job and fire ``on_discard``, once.

    Return True if this call was the first.
    """
    batch_id = parse_key(key)
    if batch_id is None:
        return False
    alias = _alias()
    with transaction.atomic(using=alias):
        first = (
            Batch.objects.using(alias)
            .filter(pk=batch_id, discarded_at__isnull=True)
            .update(discarded_at=timezone.now())
        )
        if not first:
            return False
        row = Batch.objects.using(alias).values("callbacks", "meta").get(pk=batch_id)
        callbacks = row["callbacks"] or {}
        if callbacks.get("on_discard"):
            fired = enqueue_callbacks(key, callbacks, ["on_discard"], count_by_state(key, alias))
            meta = dict(row["meta"] or {})
            meta["fired"] = {**meta.get("fired", {}), **fired}
            Batch.objects.using(alias).filter(pk=batch_id).update(meta=meta)
    return True


def running_after(after: tuple[Any, Any] | None, limit: int) -> list[tuple[Any, uuid.UUID]]:
    """Return up to ``limit`` (created_at, id) of running batches after ``after``, oldest first."""
    batches = Batch.objects.using(_alias()).filter(state=BatchState.RUNNING)
    if after is not None:
        created_at, pk = after
        batches = batches.filter(created_at__gte=created_at).exclude(created_at=created_at, pk__lte=pk)
    return list(batches.order_by("created_at", "pk").values_list("created_at", "pk")[:limit])


__all__ = [
    "DISCARD_STATES",
    "active_jobs_of",
    "count_by_state",
    "create",
    "finish_if_done",
    "grow",
    "has_active_jobs",
    "jobs_of",
    "mark_discarded",
    "parse_key",
    "running_after",
    "seal",
]
