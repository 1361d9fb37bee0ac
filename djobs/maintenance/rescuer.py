"""The rescuer: jobs held by a worker process that stopped heartbeating go back to work."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from ..db import get_ops
from ..worker.hooks import TerminalJob, run_after_terminal
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
    """Gives back the executing jobs of dead workers, then deletes their rows.

    A rescued job goes back to ``available`` (the interrupted attempt counts),
    or to ``discarded`` when it has no attempts left; either way an error entry
    says which worker was lost. Jobs held by no known worker row are rescued too.
    """

    name = "rescuer"

    def __init__(self, config: RescuerConfig | None = None) -> None:
        self.config = config or RescuerConfig()
        self.config.validate()

    @property
    def interval(self) -> float:
        return self.config.interval

    def run_once(self) -> ServiceResult:
        ops = get_ops()
        now = timezone.now()
        stale_before = now - timedelta(seconds=self.config.rescue_after)
        rows = ops.job_rescue(stale_before=stale_before, now=now)
        workers = ops.worker_delete_stale(stale_before=stale_before)
        counts = {"rescued": 0, "discarded": 0, "workers_deleted": workers}
        terminal = []
        for pk, state, queue, meta in rows:
            if state == "discarded":
                counts["discarded"] += 1
                terminal.append(TerminalJob(pk, state, queue, meta or {}))
            else:
                counts["rescued"] += 1
        if rows:
            logger.warning(
                "djobs rescued %d job(s) of dead workers (%d discarded, out of attempts)",
                len(rows),
                counts["discarded"],
                extra={"rescued": counts["rescued"], "discarded": counts["discarded"]},
            )
            if ops.supports_listen_notify and counts["rescued"]:
                ops.notify_inserted(sorted({q for _, s, q, _ in rows if s == "available"}))
        run_after_terminal(terminal)
        return ServiceResult(counts)


__all__ = ["Rescuer", "RescuerConfig"]
