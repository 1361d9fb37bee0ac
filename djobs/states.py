"""Job states and the sets of them that the rest of djobs reasons about."""

from __future__ import annotations

from django.db import models


class JobState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    AVAILABLE = "available", "Available"
    EXECUTING = "executing", "Executing"
    RETRYABLE = "retryable", "Retryable"
    COMPLETED = "completed", "Completed"
    DISCARDED = "discarded", "Discarded"
    CANCELLED = "cancelled", "Cancelled"
    # A workflow step whose dependencies have not all completed; never claimed.
    # Last, so the bits of the states before it (stored in unique_states) stay.
    WAITING = "waiting", "Waiting"


TERMINAL_STATES: frozenset[str] = frozenset({JobState.COMPLETED, JobState.DISCARDED, JobState.CANCELLED})
ACTIVE_STATES: frozenset[str] = frozenset(s for s in JobState.values if s not in TERMINAL_STATES)
# Waiting for their scheduled_at; the stager makes them available when due.
STAGED_STATES: frozenset[str] = frozenset({JobState.SCHEDULED, JobState.RETRYABLE})

# Unique jobs: by default a duplicate is refused while the first is anywhere but
# discarded or cancelled, so a completed job still blocks its period (as Oban).
DEFAULT_UNIQUE_STATES: tuple[str, ...] = (
    JobState.SCHEDULED,
    JobState.AVAILABLE,
    JobState.EXECUTING,
    JobState.RETRYABLE,
    JobState.COMPLETED,
)

# Each state has one bit so a row can carry the set of states its unique key
# covers in a small integer that both SQLite and PostgreSQL can test with `&`.
STATE_BITS: dict[str, int] = {state: 1 << i for i, state in enumerate(JobState.values)}


def states_mask(states: tuple[str, ...] | list[str] | frozenset[str]) -> int:
    """Return the bit mask of ``states``."""
    mask = 0
    for state in states:
        mask |= STATE_BITS[state]
    return mask


def is_covered(mask: int, state: str) -> bool:
    """Say whether a unique key with ``mask`` still holds in ``state``."""
    return bool(mask & STATE_BITS[state])
