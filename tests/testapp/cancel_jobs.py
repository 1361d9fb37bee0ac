"""Jobs the cancel-a-running-job tests cancel: each leaves Marker rows saying how far it got."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from djobs import job
from djobs.context import JobContext
from djobs.exceptions import JobCancelled


def _mark(name: str, context: JobContext) -> None:
    from .models import Marker

    Marker.objects.create(name=name, job_id=context.job.id)


@job(takes_context=True, max_attempts=3)
def sleeps_then_marks(context: JobContext, seconds: float) -> str:
    """Sleep in short steps for ``seconds``, then write "after the loop"; a cancel stops it first."""
    _mark("started", context)
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            # A careless job: ``except Exception`` must not swallow the cancellation.
            with contextlib.suppress(Exception):
                time.sleep(0.05)
    except JobCancelled:
        _mark(f"interrupted cancelled={context.cancelled}", context)
        raise
    _mark("after the loop", context)
    return "finished"


@job(takes_context=True, max_attempts=3)
def catches_the_cancel(context: JobContext, seconds: float) -> str:
    """Catch JobCancelled and return as if it had finished; the job must still end cancelled."""
    _mark("started", context)
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(0.05)  # short sleeps: a thread blocked in C sees the interruption only after
    except JobCancelled:
        _mark("caught the cancel", context)
    return "pretended to finish"


@job(takes_context=True, max_attempts=3)
def helper_checks_the_flag(context: JobContext, seconds: float) -> str:
    """Hand the work to a helper thread, which stops cleanly once ``context.cancelled`` turns True.

    The dispatcher interrupts the job's own thread only; the flag is how other
    threads of the job learn they should stop.
    """
    stopped = threading.Event()

    def helper() -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if context.cancelled:
                _mark("helper stopped cleanly", context)
                stopped.set()
                return
            time.sleep(0.02)
        _mark("helper ran to the end", context)

    worker = threading.Thread(target=helper)
    worker.start()
    _mark("started", context)
    try:
        while worker.is_alive():
            worker.join(0.05)
    except JobCancelled:
        stopped.wait(5)  # the clean stop: wait for the helper to reach its safe point
        raise
    return "finished"


@job(takes_context=True, max_attempts=3)
async def async_sleeps_then_marks(context: JobContext, seconds: float) -> str:
    """The async ``sleeps_then_marks``: its task is cancelled at its next await."""
    from .models import Marker

    await Marker.objects.acreate(name="started", job_id=context.job.id)
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        await Marker.objects.acreate(name=f"interrupted cancelled={context.cancelled}", job_id=context.job.id)
        raise
    await Marker.objects.acreate(name="after the loop", job_id=context.job.id)
    return "finished"
