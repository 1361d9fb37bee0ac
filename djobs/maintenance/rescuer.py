"""The rescuer: jobs held by a worker process that stopped heartbeating go back to work."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from ..db import get_ops
from ..worker.giveback import settle_moved
from .base import ServiceResult

logger = logging.getLogger("djobs")


@dataclass(frozen=True)
class RescuerConfig:
    """``rescue_after``: seconds without a heartbeat before a worker is presumed dead."""

    rescue_after: float = 60.0
    interval: float = 15.0

    def validate(self) -> None:
        if self.rescue_after <= 0:
            raise ValueError(
                f"RescuerConfig.rescue_after={self.rescue_after!r}: use seconds above 0 "
                "(DJOBS['RESCUE_AFTER'])."
            )
        if self.interval <= 0:
            raise ValueError(f"RescuerConfig.interval={self.interval!r}: use seconds above 0.")


class Rescuer:
    """Gives back the executing jobs of dead workers, then forgets those workers.

    A worker is presumed dead once this rescuer has watched its heartbeat value
    stand still for ``rescue_after`` seconds of its own monotonic clock: no two
    machines' clocks are compared, and a rescuer that is itself paused only
    looks later. A new rescuer therefore waits ``rescue_after`` before its first
    rescue of a registered worker. Jobs held by no registered worker are
    rescued at once; the rescuer's own worker (``worker_id``) never is.

    A rescued job that had started keeps its attempt (discarded when it has
    none left); one claimed but never started gets its attempt back. Either
    way an error entry says which worker was lost.
    """

    name = "rescuer"
    in_burst = True
    log_rounds = True

    def __init__(self, config: RescuerConfig | None = None, *, worker_id: str = "") -> None:
        self.config = config or RescuerConfig()
        self.config.validate()
        self.worker_id = worker_id
        # worker id -> (heartbeat value, monotonic time it was first seen with it)
        self._watched: dict[str, tuple[Any, float]] = {}

    @property
    def interval(self) -> float:
        return self.config.interval

    def stale_workers(self, heartbeats: dict[str, Any], clock: float) -> dict[str, Any]:
        """Note ``heartbeats`` seen at ``clock``; return those unchanged for ``rescue_after``."""
        watched: dict[str, tuple[Any, float]] = {}
        stale = {}
        for worker_id, value in heartbeats.items():
            if worker_id == self.worker_id:
                continue
            seen = self._watched.get(worker_id)
            if seen is None or seen[0] != value:
                seen = (value, clock)
            watched[worker_id] = seen
            if clock - seen[1] >= self.config.rescue_after:
                stale[worker_id] = value
        self._watched = watched
        return stale

    def run_once(self) -> ServiceResult:
        ops = get_ops()
        stale = self.stale_workers(ops.worker_heartbeats(), time.monotonic())
        deleted = ops.worker_delete_dead(heartbeats=stale) if stale else {}
        for worker_id in deleted:
            self._watched.pop(worker_id, None)
        # Their atomic jobs' open transactions (a paused worker's) end first: their
        # locks go, and the rescue below never waits on them (it skips locked rows).
        ops.session_terminate([session for sessions in deleted.values() for session in sessions])
        moved = ops.job_rescue(now=timezone.now(), exclude_worker=self.worker_id)
        counts = {
            "rescued": sum(job.state == "available" for job in moved),
            "discarded": sum(job.state == "discarded" for job in moved),
            "workers_deleted": len(deleted),
        }
        if moved:
            logger.warning(
                "djobs rescued %d job(s) of dead workers (%d discarded, out of attempts)",
                len(moved),
                counts["discarded"],
                extra={"rescued": counts["rescued"], "discarded": counts["discarded"]},
            )
        settle_moved(ops, moved)
        return ServiceResult(counts)


__all__ = ["Rescuer", "RescuerConfig"]
