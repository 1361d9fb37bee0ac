"""Jobs the fault-injection tests run: each leaves Marker rows that say who started it and when."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from djobs import Snooze, job
from djobs.context import JobContext


def _mark(name: str, context: JobContext) -> None:
    from .models import Marker

    Marker.objects.create(name=name, job_id=context.job.id)


@job(takes_context=True)
def paced(context: JobContext, seconds: float) -> dict[str, Any]:
    """Run ``seconds``; a "start <attempt> <worker>" Marker records every start."""
    _mark(f"start {context.attempt} {context.job.worker_id}", context)
    time.sleep(seconds)
    return {"attempt": context.attempt, "worker": context.job.worker_id}


@job(takes_context=True)
def tick(context: JobContext, seconds: float = 0.0) -> str:
    """A short job: one "tick" Marker per start."""
    _mark("tick", context)
    if seconds:
        time.sleep(seconds)
    return "ticked"


# Outcomes PostgreSQL's jsonb cannot hold as they are (NUL, a lone surrogate).


@job(max_attempts=1)
def returns_nul() -> str:
    return "a\x00b"


@job(max_attempts=1)
def returns_nested_nul() -> dict[str, Any]:
    return {"text": "a\x00b", "items": ["c\x00d"]}


@job(max_attempts=1)
def raises_nul() -> None:
    raise ValueError("a\x00b")


@job(max_attempts=1)
def raises_from_nul() -> None:
    """The error's message is clean; only its traceback (the cause) holds a NUL."""
    try:
        raise ValueError("a\x00b")
    except ValueError as exc:
        raise RuntimeError("wrapped") from exc


@job(max_attempts=1)
def returns_surrogate() -> str:
    return "x\ud800y"


@job(max_attempts=1)
def raises_surrogate() -> None:
    raise ValueError("x\ud800y")


@job(takes_context=True, unique={"keys": ["key"], "states": ["available", "scheduled"]})
def snoozes_when_told(context: JobContext, key: str) -> Snooze:
    """Wait for a "go" Marker (10 s at most), then snooze for a minute."""
    from .models import Marker

    _mark("snoozer started", context)
    end = time.monotonic() + 10
    while time.monotonic() < end and not Marker.objects.filter(name="go").exists():
        time.sleep(0.05)
    return Snooze(60)


@job(timeout=0.3, max_attempts=1)
def swallows_exceptions(seconds: float) -> str:
    """Catch every Exception in a loop: a timeout must still stop it."""
    from .models import Marker

    swallowed: list[BaseException] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(0.01)
        except Exception as exc:  # the point: a broad except around the work
            swallowed.append(exc)
    Marker.objects.create(name=f"swallower returned, {len(swallowed)} swallowed")
    return "late"


@job(timeout=0.3, max_attempts=1)
def ignores_its_timeout(seconds: float) -> str:
    """Catch even BaseException in a loop: its thread is stuck until ``seconds`` pass."""
    swallowed: list[BaseException] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(0.01)
        except BaseException as exc:  # a job that refuses to stop
            swallowed.append(exc)
    return "late"


@job(max_attempts=2)
def kills_its_worker() -> None:
    """Crash the process running it at once (as a segfault in a C extension would)."""
    os.kill(os.getpid(), signal.SIGKILL)
