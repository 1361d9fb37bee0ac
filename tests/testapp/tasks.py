"""django.tasks Tasks the test suite enqueues and runs on djobs (Django 6.0+ only).

Written against django.tasks alone, as a user's app would be; imported by
djobs' autodiscovery because tests.settings sets TASKS to djobs' backend.
"""

from __future__ import annotations

import asyncio
from typing import Any

from djobs import Cancel, Snooze
from djobs.tasks_compat.api import TASK_OPTIONS_SUPPORTED, TaskContext, task


@task
def add(a: int, b: int) -> int:
    return a + b


@task(priority=50, queue_name="emails")
def send_email(to: str, subject: str = "hello") -> dict[str, str]:
    return {"to": to, "subject": subject}


@task
def fail(message: str) -> None:
    raise ValueError(message)


@task(takes_context=True)
def describe_context(context: TaskContext, label: str) -> dict[str, Any]:
    result = context.task_result
    return {
        "label": label,
        "attempt": context.attempt,
        "id": result.id,
        "status": str(result.status),
        "task": result.task.module_path,
    }


@task
async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@task
async def count_jobs_async(path: str) -> int:
    from djobs.models import Job

    # The async ORM goes through sync_to_async(thread_sensitive=True).
    return await Job.objects.filter(path=path).acount()


@task
def returns_tuple() -> tuple[int, int]:
    return (1, 2)


# djobs' outcomes work inside tasks too (code that uses them is tied to djobs).
@task
def cancels(reason: str) -> None:
    raise Cancel(reason)


@task
def snoozes(seconds: float) -> None:
    raise Snooze(seconds)


if TASK_OPTIONS_SUPPORTED:  # Django 6.1+: djobs options through @task(...)

    @task(max_attempts=2, timeout=30, tags=["billing"])
    def charge(invoice_id: int) -> int:
        return invoice_id

    @task(unique={"keys": ["user_id"]})
    def sync_profile(user_id: int, full: bool = False) -> None:
        return None

    @task(max_attempts=1)
    def fail_once(message: str) -> None:
        raise RuntimeError(message)
