"""The pruner: finished jobs past their retention are deleted, in chunks."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from ..db import get_ops
from ..states import TERMINAL_STATES
from .base import ServiceResult


@dataclass(frozen=True)
class PrunerConfig:
    """``retention``: seconds to keep each terminal state (None: forever)."""

    retention: Mapping[str, float | None] = field(
        default_factory=lambda: {"completed": 86400, "cancelled": 604800, "discarded": 604800}
    )
    interval: float = 60.0
    chunk_size: int = 2000
    # One round stops after this many rows or seconds (the runner's main thread
    # also enforces deadlines); a round cut short is followed by another soon.
    max_rows: int = 50_000
    max_seconds: float = 1.0
    catch_up_interval: float = 1.0

    def validate(self) -> None:
        for state, seconds in self.retention.items():
            if state not in TERMINAL_STATES:
                raise ValueError(
                    f"PrunerConfig.retention has {state!r}; use completed, cancelled or discarded."
                )
            if seconds is not None and seconds < 0:
                raise ValueError(f"PrunerConfig.retention[{state!r}]={seconds!r}: use 0 or more.")
        if self.chunk_size < 1:
            raise ValueError(f"PrunerConfig.chunk_size={self.chunk_size!r}: use at least 1.")
        if self.max_rows < 1 or self.max_seconds <= 0 or self.catch_up_interval <= 0:
            raise ValueError(
                f"PrunerConfig max_rows={self.max_rows!r}, max_seconds={self.max_seconds!r}, "
                f"catch_up_interval={self.catch_up_interval!r}: use numbers above 0."
            )


class Pruner:
    """Deletes finished jobs older than their retention, ``chunk_size`` rows per statement.

    Jobs tagged with a batch that is not finished are kept, so a batch's
    completion check always sees all of its jobs; so are the jobs of a
    workflow that is not finished, whose steps read their dependencies'
    results. Finished workflows whose jobs are all gone are deleted after,
    and so is the saved progress (djobs.durable) of jobs that are gone.
    """

    name = "pruner"
    in_burst = True
    log_rounds = True

    def __init__(self, config: PrunerConfig | None = None) -> None:
        self.config = config or PrunerConfig()
        self.config.validate()
        self.behind = False

    @property
    def interval(self) -> float:
        """Seconds to the next round: sooner while a backlog is left."""
        return self.config.catch_up_interval if self.behind else self.config.interval

    def run_once(self) -> ServiceResult:
        """Delete expired jobs in chunks until none is left or the round's budget is spent."""
        ops = get_ops()
        config = self.config
        now = timezone.now()
        end = time.monotonic() + config.max_seconds
        counts: dict[str, int] = {}
        budget = config.max_rows
        self.behind = False
        # One probe per round: with no workflow running, the plain statement.
        delete = (
            ops.job_delete_finished_outside_workflows
            if ops.workflow_any_unfinished()
            else ops.job_delete_finished
        )
        for state, seconds in sorted(config.retention.items()):
            if seconds is None:
                continue
            before = now - timedelta(seconds=seconds)
            total = 0
            while True:
                if budget <= 0 or time.monotonic() >= end:
                    self.behind = True
                    break
                deleted = delete(state=state, before=before, limit=min(config.chunk_size, budget))
                total += deleted
                budget -= deleted
                if deleted < config.chunk_size:
                    break
            counts[state] = total
        workflows = ops.workflow_prune(limit=config.chunk_size)
        if workflows:
            counts["workflows"] = workflows
        # The saved progress of durable steps goes with its job, however the job went.
        progress = ops.progress_delete_orphans(limit=config.chunk_size)
        if progress:
            counts["progress"] = progress
        return ServiceResult(counts)


__all__ = ["Pruner", "PrunerConfig"]
