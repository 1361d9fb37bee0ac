"""Job deadlines: record a timed-out attempt at once, and nudge its thread to stop.

A Python thread cannot be killed. At a job's deadline the dispatcher records
the attempt as failed with a :class:`djobs.JobTimeout` error (retried with
backoff like any failure, or discarded on the last attempt) and asks the
interpreter to raise ``JobTimeout`` inside the job's thread
(``PyThreadState_SetAsyncExc``). Code running Python bytecode sees it almost
at once; code blocked in C (a socket read, ``time.sleep``) sees it only when
it returns to Python. Whatever the thread does afterwards, its result is
dropped: the row's outcome is already written, and writes are fenced.

An async job's deadline cancels its task instead (``RunningJob.cancel``,
djobs.worker.aio); a coroutine blocking its loop gets ``JobTimeout`` raised
in the loop's thread, as a thread would (djobs.worker.aio_watch).

A job cancelled while it runs (djobs.worker.cancels) is stopped the same way,
with ``JobCancelled`` instead; its outcome is not recorded at all (the row is
``cancelled`` already, or no longer this worker's).
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..exceptions import JobInterrupted, JobTimeout

if TYPE_CHECKING:
    from ..models import Job

# No argtypes on purpose: None must pass as NULL (which clears a pending exception).
_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc


@dataclass(eq=False)
class RunningJob:
    """A job running in one of the dispatcher's threads, or as a task on a queue's event loop.

    ``thread_id`` is the thread it runs in (the loop's, for an async job);
    ``cancel`` is set for async jobs and cancels the task from any thread.
    """

    job: Job
    thread_id: int
    started: float
    deadline: float | None
    done: bool = False
    timed_out: bool = False
    timed_out_at: float | None = None
    # Set when a new thread took this one's slot (it was stuck past its timeout).
    abandoned: bool = False
    # Set once the recorder has written the job's start (attempted_at).
    start_written: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    cancel: Callable[[], None] | None = None
    # What ``expire`` raised in its thread: JobTimeout, or JobCancelled for a cancelled job.
    interruption: type[JobInterrupted] = JobTimeout

    @property
    def key(self) -> int:
        """Return its key among a producer's running jobs: the thread, or minus the job's id."""
        return self.thread_id if self.cancel is None else -int(self.job.id)


def raise_in_thread(thread_id: int, exc_type: type[BaseException] = JobTimeout) -> bool:
    """Ask the interpreter to raise ``exc_type`` in ``thread_id``; say whether it took."""
    return int(_set_async_exc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type))) == 1


def clear_pending(thread_id: int) -> None:
    """Drop a not-yet-raised async exception of ``thread_id`` (the job ended first)."""
    _set_async_exc(ctypes.c_ulong(thread_id), None)


def expire(
    running: RunningJob, now: float | None = None, interruption: type[JobInterrupted] = JobTimeout
) -> bool:
    """Mark ``running`` as settled (timed out, or cancelled) if it still runs; say whether it did.

    Its thread gets ``interruption`` raised in it (an async job's task is cancelled),
    and its outcome will not be recorded.
    """
    with running.lock:
        if running.done or running.timed_out:
            return False
        running.timed_out = True
        running.timed_out_at = time.monotonic() if now is None else now
        running.interruption = interruption
        if running.cancel is not None:
            running.cancel()
        else:
            raise_in_thread(running.thread_id, interruption)
        return True


def finish(running: RunningJob) -> bool:
    """Mark ``running`` as done; return True when its outcome may still be recorded."""
    with running.lock:
        running.done = True
        if running.timed_out:
            clear_pending(running.thread_id)
            return False
        return True


def timeout_error(job: Job, seconds: float) -> JobTimeout:
    """Return the exception recorded for a job that ran past ``seconds``."""
    return JobTimeout(
        f"{job.path} ran longer than its timeout of {seconds:g}s; the attempt is counted as "
        "failed and a late result will be ignored"
    )


__all__ = ["RunningJob", "clear_pending", "expire", "finish", "raise_in_thread", "timeout_error"]
