"""What a ``@job(takes_context=True)`` function receives as its first argument."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .batches import BatchHandle
    from .decorators import Enqueuer
    from .models import Job


@dataclass
class JobContext:
    """The running job's row and helpers around it.

    ``context.job`` is the :class:`djobs.models.Job` being run; ``attempt``,
    ``max_attempts``, ``meta`` and ``batch_id`` are shortcuts to it. In an
    ``async def`` job, ``batch`` and ``enqueue_in_batch`` query the database:
    use ``await context.aenqueue_in_batch(...)`` there.
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

    @property
    def batch(self) -> BatchHandle | None:
        """Return the job's batch (``context.batch.enqueue(fn, ...)`` adds to it), or None."""
        from .batches import get_batch

        return get_batch(self.job.batch_id) if self.job.batch_id else None

    def enqueue_in_batch(self, job_function: Enqueuer[Any, Any], *args: Any, **kwargs: Any) -> Job:
        """Enqueue ``job_function(*args, **kwargs)`` into this job's batch, which then waits for it."""
        batch = self.batch
        if batch is None:
            from .batches import BatchError

            raise BatchError(f"Job {self.job.pk} ({self.job.path}) is not in a batch; enqueue it directly.")
        return batch.enqueue(job_function, *args, **kwargs)

    async def aenqueue_in_batch(self, job_function: Enqueuer[Any, Any], *args: Any, **kwargs: Any) -> Job:
        """``enqueue_in_batch`` for async jobs: reads the batch and inserts in the async ORM's thread."""
        from asgiref.sync import sync_to_async

        return await sync_to_async(self.enqueue_in_batch, thread_sensitive=True)(
            job_function, *args, **kwargs
        )
