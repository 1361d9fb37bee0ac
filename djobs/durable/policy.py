"""When an iteration hands its cursor over to be saved: pure, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .errors import StepError

#: Without ``checkpoint_every``, the cursor is handed over every this many seconds.
DEFAULT_CHECKPOINT_SECONDS = 5.0


@dataclass(frozen=True)
class CheckpointPolicy:
    """Hand the cursor over after ``items`` finished items, or ``seconds`` since the last hand-over."""

    items: int | None = None
    seconds: float | None = None


def checkpoint_policy(every: Any) -> CheckpointPolicy:
    """Return the policy ``ctx.each(..., checkpoint_every=every)`` asks for.

    An ``int`` counts items, a ``timedelta`` measures time; None is the
    default, every DEFAULT_CHECKPOINT_SECONDS seconds.
    """
    if every is None:
        return CheckpointPolicy(seconds=DEFAULT_CHECKPOINT_SECONDS)
    if isinstance(every, timedelta):
        seconds = every.total_seconds()
        if seconds <= 0:
            raise StepError(f"checkpoint_every={every!r}: use a timedelta longer than 0.")
        return CheckpointPolicy(seconds=seconds)
    if isinstance(every, int) and not isinstance(every, bool):
        if every < 1:
            raise StepError(f"checkpoint_every={every!r}: use a number of items of at least 1.")
        return CheckpointPolicy(items=every)
    raise StepError(
        f"checkpoint_every={every!r}: give a number of items (an int, e.g. 500) or a "
        "timedelta (e.g. timedelta(seconds=10))."
    )


__all__ = ["DEFAULT_CHECKPOINT_SECONDS", "CheckpointPolicy", "checkpoint_policy"]
