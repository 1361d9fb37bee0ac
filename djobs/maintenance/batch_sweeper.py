"""The batch sweeper: running batches with no active job left are finished, callbacks and all.

A safety net. Batches are normally finished by the completion hook right after
their last job's outcome commits; a process that dies between that commit and
the hook would leave the batch running forever. The sweeper checks running
batches (one index probe each, a bounded number per round, resuming where the
last round stopped) and finishes them with the same conditional update, so a
batch the hook did finish meanwhile is left alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .base import ServiceResult

logger = logging.getLogger("djobs")


@dataclass(frozen=True)
class BatchSweeperConfig:
    """``interval``: seconds between rounds; ``limit``: running batches checked per round."""

    interval: float = 60.0
    limit: int = 500

    def validate(self) -> None:
        if self.interval <= 0:
            raise ValueError(f"BatchSweeperConfig.interval={self.interval!r}: use seconds above 0.")
        if self.limit < 1:
            raise ValueError(f"BatchSweeperConfig.limit={self.limit!r}: use at least 1.")


class BatchSweeper:
    """Finishes running batches whose jobs are all terminal (missed by a crashed hook)."""

    name = "batch_sweeper"
    in_burst = True
    log_rounds = True

    def __init__(self, config: BatchSweeperConfig | None = None) -> None:
        self.config = config or BatchSweeperConfig()
        self.config.validate()
        # (created_at, id) of the last batch checked; the next round resumes after it.
        self._after: tuple[Any, Any] | None = None
        self.last_checked = 0

    @property
    def interval(self) -> float:
        return self.config.interval

    def run_once(self) -> ServiceResult:
        from ..batches import store

        batches = store.running_after(self._after, self.config.limit)
        # Wrap around once the end is reached, so every running batch gets its turn.
        self._after = batches[-1] if len(batches) == self.config.limit else None
        finished = 0
        for _, batch_id in batches:
            if store.finish_if_done(str(batch_id)):
                finished += 1
        if finished:
            logger.warning(
                "djobs batch sweeper finished %d batch(es) the completion hook had missed",
                finished,
                extra={"finished": finished},
            )
        self.last_checked = len(batches)
        return ServiceResult({"finished": finished})


__all__ = ["BatchSweeper", "BatchSweeperConfig"]
