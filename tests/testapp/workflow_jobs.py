"""Jobs the workflow tests chain: each marks its start and end (Marker rows) so order can be checked."""

from __future__ import annotations

import time
from typing import Any

from djobs import Discard, job
from djobs.context import JobContext

from .models import Marker


def _mark(event: str, context: JobContext) -> None:
    name = f"{event}:{context.workflow_id}:{context.workflow_step}"
    Marker.objects.create(name=name, job_id=context.job.pk)


@job(takes_context=True)
def step(context: JobContext, value: Any = None, pause: float = 0.0) -> Any:
    """Mark start and end around ``pause`` seconds; return ``value``."""
    _mark("start", context)
    if pause:
        time.sleep(pause)
    _mark("end", context)
    return value


@job(takes_context=True)
def collect(context: JobContext) -> dict[str, Any]:
    """Return the results of the steps it waited for."""
    _mark("start", context)
    results = context.dependency_results()
    _mark("end", context)
    return results


@job(takes_context=True)
def fail(context: JobContext) -> None:
    _mark("start", context)
    raise Discard("this step fails")


@job(max_attempts=3, backoff=lambda attempt: 0, takes_context=True)
def flaky(context: JobContext) -> str:
    """Fail the first two attempts, then complete."""
    _mark("start", context)
    if context.attempt < 3:
        raise RuntimeError(f"attempt {context.attempt} fails")
    _mark("end", context)
    return "third time"


@job(takes_context=True)
def fan_out(context: JobContext, n: int, before: str) -> int:
    """Add ``n`` steps to its own workflow, each of which ``before`` waits for."""
    _mark("start", context)
    for i in range(n):
        context.add_step(f"extra-{i}", step.new(i), deps=[context.workflow_step or ""], dependents=[before])
    _mark("end", context)
    return n
