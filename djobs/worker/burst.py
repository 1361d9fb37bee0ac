"""When a ``runjobs --burst`` run may end: every queue drained, every outcome written, nothing due.

A burst ends on a *mark*: a stage of scheduled and retryable jobs that found
none due, after which every producer came back from a claim empty and the
recorder wrote everything it held. The decision is made on a mark at most
``FRESH`` old, so a job that fell due while the queues drained is staged and
run rather than left behind.

While jobs are in flight the end cannot be near; staging then waits ``BUSY``
between rounds instead of running every tick (100 stage statements a second
competed with the claims and outcomes of the jobs being drained).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from django.db import DatabaseError, connections
from django.utils import timezone

from ..hooks import hooks

if TYPE_CHECKING:
    from ..db.base import DatabaseOps
    from .producer import Producer
    from .recorder import Recorder

logger = logging.getLogger("djobs")

#: How old a mark may be when the run ends on it (seconds): a few of burst's 10 ms ticks.
FRESH = 0.05
#: How often jobs are staged while some are claimed or running (seconds).
BUSY = 0.25


class BurstEnd:
    """Decides, tick by tick, whether a burst run is over; stages due jobs on the way."""

    def __init__(
        self,
        ops: DatabaseOps,
        recorder: Recorder,
        producers: Callable[[], Iterable[Producer]],
        wake_all: Callable[[], None],
    ) -> None:
        self.ops = ops
        self.recorder = recorder
        self.producers = producers
        self.wake_all = wake_all
        #: (when the last stage found nothing due, the recorder's generation then); None: stage next.
        self.mark: tuple[float, int] | None = None

    def done(self) -> bool:
        """Say whether the run is over; otherwise stage due jobs when that is due."""
        now = time.monotonic()
        mark = self.mark
        if mark is not None:
            since, generation = mark
            producers = list(self.producers())
            busy = self.recorder.pending > 0 or not all(p.idle() for p in producers)
            if busy and now - since < BUSY:
                return False
            if (
                not busy
                and now - since <= FRESH
                and self.recorder.generation == generation
                and all(p.empty_claim_at is not None and p.empty_claim_at >= since for p in producers)
                # Background work (batch checks) may still enqueue jobs: finish it first.
                and not hooks.before_idle()
            ):
                return True
        self._stage(now)
        return False

    def _stage(self, now: float) -> None:
        generation = self.recorder.generation
        try:
            staged = self.ops.job_stage(now=timezone.now(), limit=5000)
        except DatabaseError as exc:
            connections[self.ops.alias].close_if_unusable_or_obsolete()
            logger.warning("djobs could not stage jobs: %s", exc)
            staged = {"?": 1}
        self.mark = None if staged else (now, generation)
        # Producers claim again now: staged jobs are theirs, and an empty claim
        # after this mark is what ends the run.
        self.wake_all()


__all__ = ["BUSY", "FRESH", "BurstEnd"]
