"""The maintenance services every ``runjobs`` process runs, in order.

Add a service by appending one line to ``default_services``; each has the
shape of :class:`djobs.maintenance.base.Service` (``name``, ``interval``,
``run_once()``) and must be safe when several processes run it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..conf import Settings
from .base import Service
from .batch_sweeper import BatchSweeper
from .pruner import Pruner, PrunerConfig
from .rescuer import Rescuer, RescuerConfig
from .scheduler import PeriodicScheduler
from .stager import Stager, StagerConfig
from .vacuumer import Vacuumer, VacuumerConfig
from .workflow_sweeper import WorkflowSweeper


def default_services(
    conf: Settings,
    *,
    on_staged: Callable[[Iterable[str]], None] | None = None,
    worker_id: str = "",
) -> list[Service]:
    """Return the services ``runjobs`` runs, configured from ``conf`` (the DJOBS settings).

    ``worker_id`` is the calling worker's: its rescuer never rescues its own jobs.
    """
    services: list[Service] = [
        Stager(StagerConfig(interval=conf.POLL_INTERVAL), on_staged=on_staged),
        Rescuer(
            RescuerConfig(
                rescue_after=conf.RESCUE_AFTER, interval=max(1.0, min(conf.RESCUE_AFTER / 4, 30.0))
            ),
            worker_id=worker_id,
        ),
        Pruner(
            PrunerConfig(
                retention=conf.RETENTION,
                interval=conf.PRUNE_INTERVAL,
                chunk_size=conf.BULK_CHUNK_SIZE,
            )
        ),
        PeriodicScheduler(),  # its first round syncs DJOBS["PERIODIC"] into rows
        BatchSweeper(),  # finishes batches whose completion hook was lost in a crash
        WorkflowSweeper(),  # releases workflow steps whose release was lost in a crash
        Vacuumer(VacuumerConfig(dead_rows=conf.VACUUM_DEAD_ROWS)),  # PostgreSQL: dead rows slow the claim
    ]
    return services


__all__ = ["default_services"]
