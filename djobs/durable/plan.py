"""Where a test asked a job to be interrupted (djobs.testing.interrupt_job): read by the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .progress import Progress


@dataclass
class InterruptPlan:
    """Interrupt the next job that reaches this point, once, as a shutdown would."""

    during_step: str | None = None
    after_step: str | None = None
    after_items: int | None = None
    each: str | None = None
    fired: bool = False

    def fire(self, progress: Progress) -> None:
        if not self.fired:
            self.fired = True
            progress.interrupt_requested = True
            progress.attention = True

    def items_for(self, name: str) -> int | None:
        """Return after how many items iteration ``name`` is interrupted, or None."""
        if self.fired or self.after_items is None or self.each not in (None, name):
            return None
        return self.after_items


#: The plan of the ``interrupt_job`` block being run, if any.
current: list[InterruptPlan] = []


def active() -> InterruptPlan | None:
    return current[-1] if current else None


__all__ = ["InterruptPlan", "active", "current"]
