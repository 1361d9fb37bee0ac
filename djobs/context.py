"""What a ``@job(takes_context=True)`` function receives as its first argument."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from .exceptions import JobCancelled

if TYPE_CHECKING:
    from .batches import BatchHandle
    from .decorators import Enqueuer
    from .enqueue import PendingJob
    from .models import Job

T = TypeVar("T")


@dataclass
class JobContext:
    """The running job's row and helpers around it.

    ``context.job`` is the :class:`djobs.models.Job` being run; ``attempt``,
    ``max_attempts``, ``meta`` and ``batch_id`` are shortcuts to it. In an
    ``async def`` job, ``batch`` and ``enqueue_in_batch`` query the database:
    use ``await context.aenqueue_in_batch(...)`` there.

    A long job checks ``context.cancelled`` (or calls
    ``context.check_cancelled()``) at safe points to stop cleanly once an
    operator cancelled it; the dispatcher also interrupts it (``JobCancelled``
    in its thread, a cancelled task for an async job)::

        for row in rows:
            context.check_cancelled()   # raises JobCancelled: nothing below runs
            process(row)
    """

    job: Job

    @property
    def cancelled(self) -> bool:
        """Say whether this attempt should stop: its job was cancelled, or taken from this worker.

        Set by the worker about a second after the row changed; reading it
        costs no query.
        """
        return stop_request(self.job) is not None

    def check_cancelled(self) -> None:
        """Raise :class:`djobs.exceptions.JobCancelled` if ``cancelled``; a safe point to stop at."""
        request = stop_request(self.job)
        if request is not None:
            raise JobCancelled(request.reason)

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

    @property
    def workflow_id(self) -> str | None:
        """Return the id of the workflow this job is a step of, or None."""
        value = (self.job.meta or {}).get("workflow_id")
        return str(value) if value is not None else None

    @property
    def workflow_step(self) -> str | None:
        """Return this job's step name in its workflow, or None."""
        value = (self.job.meta or {}).get("workflow_step")
        return str(value) if value is not None else None

    # -- durable steps and iterations (djobs.durable) ---------------------------------------

    def step(self, name: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` once per job: a later attempt gets its stored result instead.

        The result must survive a JSON round trip; it is saved before this
        returns, and what is returned is the stored (JSON) value on every
        attempt. A name is used once per job::

            path = ctx.step("download", fetch_upload, upload_id)
        """
        from .durable.runtime import step

        result: T = step(self.job, name, fn, args, kwargs)
        return result

    async def astep(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``step`` for ``async def`` jobs: ``fn`` may be async (awaited) or sync (run in a thread)."""
        from .durable.runtime import astep

        return await astep(self.job, name, fn, args, kwargs)

    def each(
        self,
        name: str,
        source: Any,
        *,
        checkpoint_every: int | timedelta | None = None,
        batch: int | None = None,
    ) -> Iterator[Any]:
        """Iterate ``source``, resuming after the last finished item of an earlier attempt.

        ``source`` is a QuerySet ordered by one unique field (the cursor), or
        a callable taking the saved cursor (None at first) and yielding
        ``(item, cursor)`` pairs. The cursor is saved every
        ``checkpoint_every`` items (an int) or the time of a timedelta
        (default: 5 seconds), when the job stops, and at shutdown, where
        the job stops after the current item without using up an attempt::

            for product in ctx.each("rows", Product.objects.order_by("pk")):
                index(product)

        With ``batch=N`` it yields lists of up to N items, a list finished
        when the loop asks for the next one (for bulk writes; never batch
        ``ctx.each`` with islice, batched or list(): an item counts as
        finished when the next is asked for, so the items of a batch that
        fails would be skipped)::

            for products in ctx.each("rows", Product.objects.order_by("pk"), batch=500):
                Index.objects.bulk_create(index_rows(products))
        """
        from .durable.runtime import each

        return each(self.job, name, source, checkpoint_every, batch)

    def aeach(
        self, name: str, source: Any, *, checkpoint_every: int | timedelta | None = None
    ) -> AsyncIterator[Any]:
        """``each`` for ``async def`` jobs: ``async for row in ctx.aeach("rows", queryset): ...``.

        A callable source may be an async generator function.
        """
        from .durable.runtime import aeach

        return aeach(self.job, name, source, checkpoint_every)

    def checkpoint(self) -> None:
        """Offer a point where the job may stop at shutdown: raise ``Interrupted`` if the worker is stopping.

        For long steps with no ``ctx.each`` of their own; the job goes back to
        ``available`` without using up an attempt and runs again from its
        last finished step.
        """
        from .durable.runtime import checkpoint

        checkpoint(self.job)

    def dependency_results(self) -> dict[str, Any]:
        """Return ``step name -> result`` of the steps this workflow step waited for (one query each).

        A dependency that ended without a result (or was ignored after
        failing, see ``ignore_failed_deps``) reads as None.
        """
        if self.workflow_id is None:
            return {}
        from .workflows.store import dependency_results

        return dependency_results(int(self.job.pk))

    def add_step(
        self,
        name: str,
        job: PendingJob,
        *,
        deps: Iterable[str] = (),
        dependents: Iterable[str] = (),
        ignore_failed_deps: bool = False,
    ) -> Job:
        """Add step ``name`` to this job's workflow while it runs; return its job.

        It waits for ``deps`` (steps of the workflow; completed ones count as
        met), and each of ``dependents``, steps still waiting, now waits for
        it too::

            for page in pages:
                context.add_step(f"parse-{page}", parse_page.new(page), dependents=["notify"])
        """
        from .workflows.errors import WorkflowError
        from .workflows.store import add_step

        if self.workflow_id is None:
            raise WorkflowError(
                f"Job {self.job.pk} ({self.job.path}) is not a workflow step; enqueue the job directly."
            )
        from .workflows.api import check_step

        spec = check_step(name, job, deps, ignore_failed_deps)
        return add_step(self.workflow_id, spec, dependents=tuple(dependents))

    async def aenqueue_in_batch(self, job_function: Enqueuer[Any, Any], *args: Any, **kwargs: Any) -> Job:
        """``enqueue_in_batch`` for async jobs: reads the batch and inserts in the async ORM's thread."""
        from asgiref.sync import sync_to_async

        return await sync_to_async(self.enqueue_in_batch, thread_sensitive=True)(
            job_function, *args, **kwargs
        )


@dataclass(frozen=True)
class StopRequest:
    """Why the worker asks a running job to stop.

    ``cancelled`` is True when an operator cancelled the job, False when its
    row was taken from this worker (rescued while the process was paused).
    """

    reason: str
    cancelled: bool = True


# The request rides on the running Job instance: each claim builds fresh ones,
# and the job's context and the worker's watchdog share it without a lookup.
_STOP_ATTRIBUTE = "_djobs_stop"


def request_stop(job: Job, request: StopRequest) -> None:
    """Ask the running ``job`` to stop: its context's ``cancelled`` turns True."""
    job.__dict__[_STOP_ATTRIBUTE] = request


def stop_request(job: Job) -> StopRequest | None:
    """Return why ``job`` was asked to stop, or None."""
    request: StopRequest | None = job.__dict__.get(_STOP_ATTRIBUTE)
    return request
