"""What a ``@job(takes_context=True)`` function receives as its first argument."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Job


@dataclass
class JobContext:
    """The running job's row and helpers around it.

    ``context.job`` is the :class:`djobs.models.Job` being run; ``attempt``,
    ``max_attempts``, ``meta`` and ``batch_id`` are shortcuts to it.
    """

    job: Job

    @property
    def attempt(self) -> int:
        return self.job.attempt

    @property
    def max_attempts(self) -> int:
        return self.job.max_attempts

    @property
    def meta(self) -> dict[str, Any]:
        return self.job.meta

    @property
    def batch_id(self) -> str | None:
        return self.job.batch_id

    @property
    def is_last_attempt(self) -> bool:
        return self.job.attempt >= self.job.max_attempts
