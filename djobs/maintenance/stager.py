"""The stager: scheduled and retryable jobs become available when they are due."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.utils import timezone

from ..db import get_ops
from .base import ServiceResult


@dataclass(frozen=True)
class StagerConfig:
    """``interval``: seconds between rounds; ``limit``: jobs moved per statement."""

    interval: float = 1.0
    limit: int = 5000
    # One round stops after this long; the next round (``interval`` later) goes on.
    max_seconds: float = 0.5

    def validate(self) -> None:
        if self.interval <= 0:
            raise ValueError(f"StagerConfig.interval={self.interval!r}: use seconds above 0.")
        if self.limit < 1:
            raise ValueError(f"StagerConfig.limit={self.limit!r}: use an integer of at least 1.")


class Stager:
    """Moves due jobs to available with one conditional UPDATE (safe in every process).

    ``on_staged`` is called with the queues that got jobs, so local producers
    wake at once; on PostgreSQL other processes are woken by NOTIFY.
    """

    name = "stager"
    # A --burst worker stages from its own idle check, before deciding it is done.
    in_burst = False
    log_rounds = False

    def __init__(
        self,
        config: StagerConfig | None = None,
        on_staged: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        self.config = config or StagerConfig()
        self.config.validate()
        self.on_staged = on_staged

    @property
    def interval(self) -> float:
        return self.config.interval

    def run_once(self) -> ServiceResult:
        """Stage every due job (in statements of ``limit``); return counts per queue."""
        ops = get_ops()
        counts: dict[str, int] = {}
        end = time.monotonic() + self.config.max_seconds
        while True:
            staged = ops.job_stage(now=timezone.now(), limit=self.config.limit)
            for queue, n in staged.items():
                counts[queue] = counts.get(queue, 0) + n
            if sum(staged.values()) < self.config.limit or time.monotonic() >= end:
                break
        if counts:
            if ops.supports_listen_notify:
                ops.notify_inserted(sorted(counts))
            if self.on_staged is not None:
                self.on_staged(counts)
        return ServiceResult(counts)


__all__ = ["Stager", "StagerConfig"]
