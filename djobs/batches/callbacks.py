"""Enqueue a batch's callback jobs; called only by whoever won the batch row's conditional update."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.utils import timezone

from .. import registry
from ..conf import get_settings
from ..decorators import EnqueueOptions
from ..enqueue import PendingJob, ambient_meta, build_pending, insert_pending
from ..exceptions import UnknownJobError
from ..states import JobState
from .tagging import adding_to

logger = logging.getLogger("djobs")

#: Meta keys on a callback job: which batch it reports on, and which callback it is.
CALLBACK_OF = "callback_of"
CALLBACK_KIND = "batch_callback"


def _pending(kind: str, spec: Mapping[str, Any], batch_id: str, counts: dict[str, int]) -> PendingJob:
    args = [batch_id, counts, *spec.get("args", [])]
    kwargs = dict(spec.get("kwargs", {}))
    meta = {CALLBACK_OF: batch_id, CALLBACK_KIND: kind}
    options = dict(spec.get("options", {}))
    try:
        job_function = registry.lookup(spec["path"])
    except UnknownJobError:
        # Still insert the row, so the missing function shows in the admin as a
        # discarded job instead of vanishing in a log line.
        logger.error(
            "djobs batch %s: %s callback %s is not registered in this process",
            batch_id,
            kind,
            spec["path"],
            extra={"batch_id": batch_id, "job_path": spec["path"]},
        )
        conf = get_settings()
        now = timezone.now()
        return PendingJob(
            path=spec["path"],
            queue=options.get("queue") or conf.DEFAULT_QUEUE,
            args=args,
            kwargs=kwargs,
            meta=meta,
            tags=list(options.get("tags") or ()),
            priority=options.get("priority", conf.DEFAULT_PRIORITY),
            max_attempts=options.get("max_attempts", conf.DEFAULT_MAX_ATTEMPTS),
            state=JobState.AVAILABLE,
            scheduled_at=now,
            inserted_at=now,
        )
    merged = {**{k: v for k, v in vars(job_function.options).items() if v is not None}, **options}
    merged["meta"] = meta
    return build_pending(job_function, args, kwargs, EnqueueOptions(**merged))


def enqueue_callbacks(
    batch_id: str, specs: Mapping[str, Any], kinds: Iterable[str], counts: dict[str, int]
) -> dict[str, int]:
    """Insert the callback jobs of ``kinds`` that ``specs`` defines; return their job ids by kind.

    Call inside the transaction that won the batch row, so the callbacks exist
    exactly when that change commits.
    """
    wanted = [kind for kind in kinds if specs.get(kind)]
    if not wanted:
        return {}
    # A callback never belongs to the batch it reports on, even when the batch
    # finishes inside a `with batch()` block of this thread (inline mode, tests).
    meta_token = ambient_meta.set(None)
    try:
        with adding_to(None):
            pending = [_pending(kind, specs[kind], batch_id, counts) for kind in wanted]
            jobs = insert_pending(pending)
    finally:
        ambient_meta.reset(meta_token)
    return {kind: job.id for kind, job in zip(wanted, jobs, strict=True)}


__all__ = ["CALLBACK_KIND", "CALLBACK_OF", "enqueue_callbacks"]
