"""The workflow sweeper: steps that ended but whose dependents were never released are released.

A safety net. A step's dependents are normally released by the terminal hook
right after its outcome commits (djobs.workflows.release); a process that dies
between that commit and the release would leave them waiting forever. The
sweeper finds steps that ended over ``grace`` seconds ago and are not marked
done (the step index on ``done``) and releases them with the same conditional
updates, so a step the hook handled meanwhile is left alone. Younger steps
are left to the release thread, which may simply not have reached them yet
(a burst of outcomes): its warning names only releases that were lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .base import ServiceResult

logger = logging.getLogger("djobs")


@dataclass(frozen=True)
class WorkflowSweeperConfig:
    """``interval``: seconds between rounds; ``limit``: ended steps handled per statement;
    ``grace``: seconds a step must have ended for before its release counts as missed."""

    interval: float = 60.0
    limit: int = 1000
    grace: float = 60.0

    def validate(self) -> None:
        if self.interval <= 0:
            raise ValueError(f"WorkflowSweeperConfig.interval={self.interval!r}: use seconds above 0.")
        if self.limit < 1:
            raise ValueError(f"WorkflowSweeperConfig.limit={self.limit!r}: use at least 1.")
        if self.grace < 0:
            raise ValueError(f"WorkflowSweeperConfig.grace={self.grace!r}: use seconds, 0 or more.")


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

        released = release_missed(self.config.limit, self.config.grace)
        if released:
            logger.warning(
                "djobs workflow sweeper released %d step(s) whose release had been missed",
                released,
                extra={"released": released},
            )
        return ServiceResult({"released": released})


__all__ = ["WorkflowSweeper", "WorkflowSweeperConfig"]
