"""django.tasks Tasks of the contract tests that nothing imports at start-up (not a tasks.py).

A worker finds them by their module path (an installed app's module). ``other_backend_add``
is declared for the ``other`` alias (Django's dummy backend), as a task of a package
written for another backend would be, and sent to djobs with ``.using(backend=...)``.
"""

from __future__ import annotations

import time

from djobs.tasks_compat.api import task


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
