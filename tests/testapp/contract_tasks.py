"""django.tasks Tasks of the contract tests that nothing imports at start-up (not a tasks.py).

A worker finds them by their module path (an installed app's module). ``other_backend_add``
is declared for the ``other`` alias (Django's dummy backend), as a task of a package
written for another backend would be, and sent to djobs with ``.using(backend=...)``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from djobs.tasks_compat.api import task, task_finished


@task
def lazy_add(a: int, b: int) -> int:
    return a + b


@task(backend="other")
def other_backend_add(a: int, b: int) -> int:
    return a + b


@task
def sleeps(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def not_a_task(a: int) -> int:
    return a


@task
def runs_until_cancelled(seconds: float) -> str:
    from tests.testapp.models import Marker

    Marker.objects.create(name="started")
    time.sleep(seconds)
    return "ran out"


def _record_finished(sender: Any, task_result: Any, **kwargs: Any) -> None:
    """Leave a row per task_finished this module's tasks get, in whichever process sends it."""
    if task_result.task.module_path.startswith(__name__):
        from tests.testapp.models import Marker

        Marker.objects.create(
            name=f"finished {task_result.status} in {os.getpid()}", job_id=int(task_result.id)
        )


task_finished.connect(_record_finished, dispatch_uid="contract-tasks-finished")
