"""The workflow sweeper: steps that ended but whose dependents were never released are released.

A safety net. A step's dependents are normally released by the terminal hook
right after its outcome commits (djobs.workflows.release); a process that dies
between that commit and the release would leave them waiting forever. The
sweeper finds ended steps not marked done (the step index on ``done``) and
releases them with the same conditional updates, so a step the hook handled
meanwhile is left alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .base import ServiceResult

logger = logging.getLogger("djobs")


@dataclass(frozen=True)
class WorkflowSweeperConfig:
    """``interval``: seconds between rounds; ``limit``: ended steps handled per statement."""

    interval: float = 60.0
    limit: int = 1000

    def validate(self) -> None:
        if self.interval <= 0:
            raise ValueError(f"WorkflowSweeperConfig.interval={self.interval!r}: use seconds above 0.")
        if self.limit < 1:
            raise ValueError(f"WorkflowSweeperConfig.limit={self.limit!r}: use at least 1.")


class WorkflowSweeper:
    """Releases the dependents of ended workflow steps that a crashed release missed."""

    name = "workflow_sweeper"
    in_burst = True
    log_rounds = True

    def __init__(self, config: WorkflowSweeperConfig | None = None) -> None:
        self.config = config or WorkflowSweeperConfig()
        self.config.validate()

    @property
    def interval(self) -> float:
        return self.config.interval

    def run_once(self) -> ServiceResult:
        from ..workflows.release import release_missed

        released = release_missed(self.config.limit)
        if released:
            logger.warning(
                "djobs workflow sweeper released %d step(s) whose release had been missed",
                released,
                extra={"released": released},
            )
        return ServiceResult({"released": released})


__all__ = ["WorkflowSweeper", "WorkflowSweeperConfig"]
