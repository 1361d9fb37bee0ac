"""``interrupt_job``: interrupt a job during a step or after some items, as a shutdown would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..durable import plan


@contextmanager
def interrupt_job(
    *,
    during_step: str | None = None,
    after_step: str | None = None,
    after_items: int | None = None,
    each: str | None = None,
) -> Iterator[plan.InterruptPlan]:
    """Interrupt the first job run in the block that reaches the given point, once.

    ::

        job = import_catalogue.enqueue(upload.id)
        with interrupt_job(after_items=100, each="rows"):
            assert drain_queue() == {"interrupted": 1, "completed": 1}

    ``during_step``: the step's function runs, and the job stops at its first
    ``ctx.checkpoint()``, or right after the step's result is stored if it
    calls none. ``after_step``: right after the step's result is stored.
    ``after_items``: after that many items of ``ctx.each`` (of the iteration
    named ``each``, or of the first one run). The job then ends as it would at
    a worker's shutdown: saved progress, back to ``available``, its attempt
    given back. ``drain_queue`` runs it again at once and it resumes; with
    ``with_recursion=False`` it stays available for the next drain.
    """
    given = [name for name, value in (("during_step", during_step), ("after_step", after_step)) if value]
    if after_items is not None:
        if isinstance(after_items, bool) or not isinstance(after_items, int) or after_items < 1:
            raise ValueError(f"interrupt_job(after_items={after_items!r}): use an integer of at least 1.")
        given.append("after_items")
    if len(given) != 1:
        raise ValueError(
            "interrupt_job(): give exactly one of during_step=, after_step= or after_items= "
            f"(got {', '.join(given) or 'none'})."
        )
    if each is not None and after_items is None:
        raise ValueError("interrupt_job(each=...) names the iteration of after_items=; give after_items too.")
    planned = plan.InterruptPlan(
        during_step=during_step, after_step=after_step, after_items=after_items, each=each
    )
    plan.current.append(planned)
    try:
        yield planned
    finally:
        plan.current.remove(planned)


__all__ = ["interrupt_job"]
