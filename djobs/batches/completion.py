"""The completion check run after jobs reach a terminal state (``djobs.worker.hooks.after_terminal``).

Per call, each batch seen is checked once, however many of its jobs the call
carries: one ``EXISTS`` over the active-jobs index, plus a conditional update
when a job was discarded or cancelled. The full count by state happens once
per batch, by whoever finishes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..worker.hooks import TerminalJob
from . import store
from .tagging import BATCH_KEY

logger = logging.getLogger("djobs")

# Batches whose first discard this process already recorded: later discards skip
# the conditional update. Bounded; forgetting only costs one no-op update.
_discard_seen: set[str] = set()
_DISCARD_SEEN_MAX = 10_000


def batches_seen(jobs: Iterable[TerminalJob]) -> dict[str, bool]:
    """Return each batch id among ``jobs``, mapped to whether one of its jobs was discarded/cancelled."""
    seen: dict[str, bool] = {}
    for job in jobs:
        key = (job.meta or {}).get(BATCH_KEY)
        if key is None:
            continue
        key = str(key)
        seen[key] = seen.get(key, False) or job.state in store.DISCARD_STATES
    return seen


def check_batches(jobs: list[TerminalJob]) -> None:
    """Fire the callbacks of the batches that ``jobs`` discarded or finished, each exactly once."""
    for key, discarded in batches_seen(jobs).items():
        try:
            if discarded and key not in _discard_seen:
                store.mark_discarded(key)
                if len(_discard_seen) >= _DISCARD_SEEN_MAX:
                    _discard_seen.clear()
                _discard_seen.add(key)
            store.finish_if_done(key)
        except Exception:
            # The sweeper (djobs.maintenance.batch_sweeper) finishes it later.
            logger.exception("djobs could not check batch %s", key, extra={"batch_id": key})


__all__ = ["batches_seen", "check_batches"]
