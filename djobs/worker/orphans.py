"""Orphan repair: rows executing under this worker's id that this worker does not hold.

They happen when a claim's reply is lost with its connection (the claim
committed, the worker never saw the rows), or when a database crash undoes an
outcome written with ASYNC_COMMIT while the older claim survived. The worker is
alive and heartbeating, so no rescuer will touch them. Each round lists this
worker's executing rows; a row seen unheld in two rounds in a row (one round
could race a claim whose rows are not handed over yet) is released with an
error entry. A row is released at most about two intervals after it appears.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.utils import timezone

from ..db import get_ops
from ..maintenance.base import ServiceResult
from .giveback import settle_moved
from .holdings import Holdings

logger = logging.getLogger("djobs")

ORPHAN_REASON = (
    "held this job in the database but not in memory (an orphan: a claim's reply or an "
    "outcome was lost); it was released"
)


@dataclass(frozen=True)
class OrphanRepairConfig:
    """``interval``: seconds between rounds (the runner uses RESCUE_AFTER)."""

    interval: float = 60.0

    def validate(self) -> None:
        if self.interval <= 0:
            raise ValueError(f"OrphanRepairConfig.interval={self.interval!r}: use seconds above 0.")


class OrphanRepair:
    """Releases this worker's executing rows that it does not hold (a per-process service)."""

    name = "orphan_repair"
    in_burst = True
    log_rounds = True

    def __init__(self, worker_id: str, holdings: Holdings, config: OrphanRepairConfig | None = None) -> None:
        self.worker_id = worker_id
        self.holdings = holdings
        self.config = config or OrphanRepairConfig()
        self.config.validate()
        self._suspects: set[tuple[int, int]] = set()

    @property
    def interval(self) -> float:
        return self.config.interval

    def run_once(self) -> ServiceResult:
        ops = get_ops()
        rows = ops.job_list_executing(worker_id=self.worker_id)
        held = self.holdings.snapshot()
        suspects = {(pk, attempt) for pk, attempt in rows if pk not in held}
        orphans = sorted(pair for pair in suspects & self._suspects if pair[0] not in self.holdings)
        self._suspects = suspects.difference(orphans)
        if not orphans:
            return ServiceResult({"orphans_released": 0})
        moved = ops.job_release(
            worker_id=self.worker_id, jobs=orphans, now=timezone.now(), reason=ORPHAN_REASON
        )
        logger.warning(
            "djobs worker %s released %d orphaned job(s) it did not hold: %s",
            self.worker_id,
            len(moved),
            ", ".join(str(job.id) for job in moved),
            extra={"djobs_worker": self.worker_id, "released": [job.id for job in moved]},
        )
        settle_moved(ops, moved)
        return ServiceResult({"orphans_released": len(moved)})


__all__ = ["ORPHAN_REASON", "OrphanRepair", "OrphanRepairConfig"]
