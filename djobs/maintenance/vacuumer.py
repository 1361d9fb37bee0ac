"""The vacuumer (PostgreSQL): VACUUM the jobs table once its dead rows slow the claim.

Every claim and outcome leaves a dead version of the job's row. The claim
walks its index from the head, where the entries of claimed jobs stay until a
VACUUM removes them: draining a million jobs with nothing vacuuming, the last
claims read some 6,000 index pages each (10-70 ms), and the run slowed to a
sixth of its rate. Autovacuum's defaults wait for a fifth of the table to be
dead, and may be off or behind; this service looks at the table's statistics
every few seconds and, past ``DJOBS["VACUUM_DEAD_ROWS"]`` dead row versions
(plus 5% of the live ones), runs a VACUUM in a thread of its own, so claims
and the runner's loop go on meanwhile. Several workers may run it: a VACUUM
already under way (autovacuum's too) is left to finish.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.db import connections

from ..db import get_ops
from .base import ServiceResult

logger = logging.getLogger("djobs")


@dataclass(frozen=True)
class VacuumerConfig:
    """``dead_rows`` (None: never) plus ``live_fraction`` of the live rows trigger a VACUUM.

    ``interval``: seconds between looks at the statistics (one cheap query).
    """

    dead_rows: int | None = 100_000
    live_fraction: float = 0.05
    interval: float = 2.0

    def validate(self) -> None:
        if self.dead_rows is not None and self.dead_rows < 1:
            raise ValueError(f"VacuumerConfig.dead_rows={self.dead_rows!r}: use at least 1, or None.")
        if self.live_fraction < 0:
            raise ValueError(f"VacuumerConfig.live_fraction={self.live_fraction!r}: use 0 or more.")
        if self.interval <= 0:
            raise ValueError(f"VacuumerConfig.interval={self.interval!r}: use seconds above 0.")


def vacuum_due(dead: int, live: int, config: VacuumerConfig) -> bool:
    """Say whether ``dead`` dead row versions beside ``live`` live rows call for a VACUUM.

    The claim's cost grows with the dead entries; a VACUUM's with the whole
    table (it reads every index): a big table waits for proportionally more.
    """
    if config.dead_rows is None:
        return False
    return dead >= config.dead_rows + config.live_fraction * live


class Vacuumer:
    """Starts a VACUUM of djobs_job in a thread when the statistics say it is due."""

    name = "vacuumer"
    in_burst = True
    # The VACUUM's thread logs when it ends, with what it took.
    log_rounds = False

    def __init__(self, config: VacuumerConfig | None = None) -> None:
        self.config = config or VacuumerConfig()
        self.config.validate()
        self._thread: threading.Thread | None = None
        # Asked once: a role that does not own the table cannot VACUUM it.
        self._allowed: bool | None = None
        # Dead rows the last VACUUM here could not remove (an open transaction, in
        # any database of the server, still may see them): only dead rows beyond
        # those call for another, or a blocked VACUUM would run every round.
        self._left = 0
        #: VACUUMs this process ran to the end.
        self.vacuums = 0

    @property
    def interval(self) -> float:
        return self.config.interval

    @property
    def running(self) -> bool:
        """Say whether this process's VACUUM is still running."""
        return self._thread is not None and self._thread.is_alive()

    def run_once(self) -> ServiceResult:
        """Start a VACUUM if it is due; return ``{"dead_rows": n}`` when one started."""
        ops = get_ops()
        if self.config.dead_rows is None or not ops.supports_vacuum or self.running:
            return ServiceResult({})
        if self._allowed is None:
            self._allowed = ops.job_table_can_vacuum()
            if not self._allowed:
                logger.warning(
                    "djobs cannot VACUUM djobs_job (this database role does not own it): dead rows "
                    "are left to autovacuum; see the PostgreSQL operations page for its settings, "
                    "or set DJOBS['VACUUM_DEAD_ROWS'] = None to say so"
                )
        if not self._allowed:
            return ServiceResult({})
        dead, live, vacuuming = ops.job_table_dead_rows()
        if vacuuming or not vacuum_due(dead - self._left, live, self.config):
            return ServiceResult({})
        self._thread = threading.Thread(
            target=self._vacuum, args=(ops.alias, dead), name="djobs-vacuum", daemon=True
        )
        self._thread.start()
        return ServiceResult({"dead_rows": dead})

    def join(self, timeout: float | None = None) -> None:
        """Wait for this process's VACUUM, if one runs (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _vacuum(self, alias: str, dead: int) -> None:
        began = time.monotonic()
        ops = get_ops(alias)
        try:
            ops.job_table_vacuum()
            # A VACUUM sets the statistics as it ends: what it could not remove.
            self._left = ops.job_table_dead_rows()[0]
        except Exception as exc:  # a thread of its own: nothing else would see it
            logger.warning("djobs could not VACUUM djobs_job: %s", exc, extra={"error": str(exc)})
        else:
            self.vacuums += 1
            logger.info(
                "djobs vacuumer: VACUUM djobs_job took %.2f s (%d dead row versions, %d left)",
                time.monotonic() - began,
                dead,
                self._left,
                extra={"service": self.name, "dead_rows": dead, "left": self._left},
            )
            if self._left > dead // 2:
                logger.warning(
                    "djobs vacuumer: VACUUM could not remove %d of %d dead row versions of djobs_job: "
                    "a transaction open since before they died (in any database of this server) "
                    "may still see them; look for old xact_start in pg_stat_activity",
                    self._left,
                    dead,
                    extra={"service": self.name, "dead_rows": dead, "left": self._left},
                )
        finally:
            connections[alias].close()


__all__ = ["Vacuumer", "VacuumerConfig", "vacuum_due"]
