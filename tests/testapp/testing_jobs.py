"""Jobs the tests of djobs.testing run (registered when a test module imports this)."""

from __future__ import annotations

from typing import Any

from djobs import Cancel, Snooze, job
from djobs.context import JobContext

#: What ran, in order, within one test process (tests clear it first).
RAN: list[Any] = []


@job(queue="testing")
def note(label: str) -> str:
    RAN.append(label)
    return label


@job(queue="testing")
def greet(name: str, greeting: str = "hello", *, punctuation: str = "!") -> str:
    return f"{greeting} {name}{punctuation}"


@job(queue="testing", takes_context=True, max_attempts=4)
def peek(context: JobContext, label: str) -> dict[str, Any]:
    return {
        "label": label,
        "attempt": context.attempt,
        "max_attempts": context.max_attempts,
        "meta": context.meta,
        "last": context.is_last_attempt,
    }


@job(queue="testing")
def countdown(n: int) -> int:
    """Enqueue countdown(n - 1) until 0: recursion for drain_queue and inline mode."""
    RAN.append(n)
    if n > 0:
        countdown.enqueue(n - 1)
    return n


@job(queue="testing")
def fan_out(labels: list[str], priority: int = 5) -> int:
    for label in labels:
        note.using(priority=priority).enqueue(label)
    return len(labels)


@job(queue="testing", takes_context=True, max_attempts=3, backoff=lambda attempt: 0)
def fails_until(context: JobContext, ok_at: int) -> int:
    """Fail until attempt ``ok_at`` (retried at once: backoff 0)."""
    if context.attempt < ok_at:
        raise ConnectionError(f"gateway down (attempt {context.attempt})")
    return context.attempt


@job(queue="testing", max_attempts=2)
def boom(message: str = "boom") -> None:
    raise ValueError(message)


@job(queue="testing")
def snooze_for(seconds: float) -> Snooze:
    return Snooze(seconds)


@job(queue="testing")
def cancel_because(reason: str) -> None:
    raise Cancel(reason)


@job(queue="testing", max_attempts=1)
def breaks_the_database() -> None:
    """Write a row, then violate a unique constraint: a database error inside the job."""
    from djobs.models import Job

    Job.objects.create(path="tests.written.before.error", unique_key="same-key")
    Job.objects.create(path="tests.written.before.error", unique_key="same-key")


@job(queue="testing", unique={"keys": ["key"]})
def unique_note(key: str) -> str:
    RAN.append(key)
    return key


@job(queue="testing")
def batch_done(batch_id: str, counts: dict[str, int]) -> dict[str, int]:
    RAN.append(("batch", {state: n for state, n in counts.items() if n}))
    return counts
