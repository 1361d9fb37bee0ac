"""The pruner: finished jobs past their retention are deleted, in chunks."""

from __future__ import annotations

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


class Pruner:
    """Deletes finished jobs older than their retention, ``chunk_size`` rows per statement.

    Jobs tagged with a batch that is not finished are kept, so a batch's
    completion check always sees all of its jobs.
    """

    name = "pruner"

    def __init__(self, config: PrunerConfig | None = None) -> None:
        self.config = config or PrunerConfig()
        self.config.validate()

    @property
    def interval(self) -> float:
        return self.config.interval

    def run_once(self) -> ServiceResult:
        ops = get_ops()
        now = timezone.now()
        counts: dict[str, int] = {}
        for state, seconds in sorted(self.config.retention.items()):
            if seconds is None:
                continue
            before = now - timedelta(seconds=seconds)
            total = 0
            while True:
                deleted = ops.job_delete_finished(state=state, before=before, limit=self.config.chunk_size)
                total += deleted
                if deleted < self.config.chunk_size:
                    break
            counts[state] = total
        return ServiceResult(counts)


__all__ = ["Pruner", "PrunerConfig"]
