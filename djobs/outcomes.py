"""What a job can return or raise to say how it ended, besides a plain result.

Each outcome is an exception so it can be raised from deep inside the job, and
can equally be returned: ``return Snooze(60)`` and ``raise Snooze(60)`` mean
the same.
"""

from __future__ import annotations


class Outcome(Exception):
    """Base of the outcomes a job can return or raise."""


class Snooze(Outcome):
    """Run the job again in ``seconds``, without using up an attempt."""

    def __init__(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"Snooze({seconds!r}): seconds must be a number, 0 or more.")
        super().__init__(seconds)
        self.seconds = float(seconds)


class Cancel(Outcome):
    """Stop the job for good: it becomes ``cancelled`` and is never retried."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = str(reason)


class Discard(Outcome):
    """Give up on the job: it becomes ``discarded`` and is never retried."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = str(reason)
