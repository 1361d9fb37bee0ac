"""How long a failed job waits before its next attempt."""

from __future__ import annotations

import random


def default_backoff(attempt: int, *, jitter: float = 0.1, rand: random.Random | None = None) -> float:
    """Return seconds to wait after failed ``attempt`` (1-based): 15 + 2**attempt, +/- 10%.

    Oban's curve: 17 s after the first failure, about 4.6 hours after the 14th.
    The jitter spreads out retries of jobs that failed together. The exponent is
    capped so a job with a large max_attempts does not overflow.
    """
    base = 15 + 2 ** min(max(attempt, 1), 20)
    spread = (rand or random).uniform(-jitter, jitter) if jitter else 0.0
    return base * (1 + spread)
