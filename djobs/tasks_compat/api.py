"""One import point for ``django.tasks`` (Django >= 6.0) or its ``django_tasks`` backport.

Importing this module without either raises :class:`TasksUnavailable`, a
``ModuleNotFoundError`` (so ``pytest.importorskip`` and Django's backend
loader treat it as the missing module it is) that is also ``ImproperlyConfigured``.
"""

from __future__ import annotations

import inspect
from importlib.util import find_spec

from django.core.exceptions import ImproperlyConfigured


class TasksUnavailable(ImproperlyConfigured, ModuleNotFoundError):
    """Neither django.tasks (Django 6.0+) nor the django-tasks backport is installed."""


if find_spec("django.tasks") is not None:
    from django.tasks import (
        Task,
        TaskContext,
        TaskResult,
        TaskResultStatus,
        default_task_backend,
        task,
        task_backends,
    )
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import (
        DEFAULT_TASK_PRIORITY,
        TASK_MAX_PRIORITY,
        TASK_MIN_PRIORITY,
        TaskError,
    )
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist, TaskResultMismatch
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json

    SOURCE = "django.tasks"
elif find_spec("django_tasks") is not None:  # pragma: no cover  (Django 5.2 with the backport)
    from django_tasks import (  # type: ignore[no-redef,import-not-found,assignment,unused-ignore]
        default_task_backend,
        task_backends,
    )
    from django_tasks.backends.base import (  # type: ignore[no-redef,import-not-found,assignment,unused-ignore]
        BaseTaskBackend,
    )
    from django_tasks.base import (  # type: ignore[no-redef,import-not-found,assignment,unused-ignore]
        DEFAULT_TASK_PRIORITY,
        TASK_MAX_PRIORITY,
        TASK_MIN_PRIORITY,
        Task,
        TaskContext,
        TaskError,
        TaskResult,
        TaskResultStatus,
        task,
    )
    from django_tasks.exceptions import (  # type: ignore[no-redef,import-not-found,assignment,unused-ignore]
        InvalidTaskError as InvalidTask,
    )
    from django_tasks.exceptions import (  # type: ignore[no-redef,import-not-found,assignment,unused-ignore]
        TaskResultDoesNotExist,
        TaskResultMismatch,
    )
    from django_tasks.signals import (  # type: ignore[no-redef,import-not-found,assignment,unused-ignore]
        task_enqueued,
        task_finished,
        task_started,
    )
    from django_tasks.utils import (  # type: ignore[no-redef,import-not-found,assignment,unused-ignore]
        normalize_json,
    )

    SOURCE = "django_tasks"
else:
    import django

    raise TasksUnavailable(
        f"djobs.backends needs django.tasks, which Django {django.get_version()} does not have. "
        "Upgrade to Django 6.0 or later, or install the backport with `pip install django-tasks` "
        "(and add 'django_tasks' to INSTALLED_APPS).",
        name="django.tasks",
    )

#: Whether ``@task(...)`` forwards extra keyword arguments to the backend's task
#: class (Django 6.1+, and the backport): then djobs options such as
#: ``max_attempts`` can be given right in the decorator.
TASK_OPTIONS_SUPPORTED: bool = any(
    p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(task).parameters.values()
)

__all__ = [
    "DEFAULT_TASK_PRIORITY",
    "SOURCE",
    "TASK_MAX_PRIORITY",
    "TASK_MIN_PRIORITY",
    "TASK_OPTIONS_SUPPORTED",
    "BaseTaskBackend",
    "InvalidTask",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultMismatch",
    "TaskResultStatus",
    "TasksUnavailable",
    "default_task_backend",
    "normalize_json",
    "task",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
