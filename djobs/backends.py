"""djobs as a ``django.tasks`` backend: Django's ``@task`` API, run by ``manage.py runjobs``.

::

    # settings.py
    TASKS = {"default": {"BACKEND": "djobs.backends.JobsBackend", "QUEUES": ["default", "emails"]}}

    # myapp/tasks.py  (autodiscovered when a djobs backend is configured)
    from django.tasks import task

    @task(priority=10, queue_name="emails")
    def send_welcome(user_id: int) -> None: ...

    result = send_welcome.enqueue(42)      # a djobs.models.Job row, id == result.id

On Django 6.1+ djobs options go in the decorator:
``@task(max_attempts=5, timeout=30, unique={"period": 60})``. Importing this
module without django.tasks (Django 5.2 without the ``django-tasks`` backport)
raises :class:`djobs.tasks_compat.api.TasksUnavailable`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.utils import timezone

from .exceptions import JobDefinitionError, UnknownJobError
from .tasks_compat.api import (
    DEFAULT_TASK_PRIORITY,
    SOURCE,
    TASK_OPTIONS_SUPPORTED,
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    normalize_json,
    task_enqueued,
)
from .tasks_compat.finished import backport_signals
from .tasks_compat.options import BACKEND_KEYS, option_problems
from .tasks_compat.priority import job_priority
from .tasks_compat.resolve import import_task, module_rule_error
from .tasks_compat.results import job_to_result
from .tasks_compat.runner import lookup_task, register_task, task_for_job

if TYPE_CHECKING:
    from .enqueue import PendingJob
    from .models import Job

    _TaskBase = Task[Any, Any]
else:
    _TaskBase = Task


@dataclass(frozen=True, slots=True, kw_only=True)
class JobsTask(_TaskBase):
    """A django.tasks Task with djobs' options; the task class of :class:`JobsBackend`.

    On Django 6.1+ ``@task(...)`` passes these through:
    ``max_attempts`` (default ``DJOBS["DEFAULT_MAX_ATTEMPTS"]``), ``unique``
    (as ``@job(unique=...)``), ``timeout`` (seconds), ``backoff`` (a function
    of the attempt returning seconds) and ``tags``.
    """

    max_attempts: int | None = None
    unique: Any = field(default=None, hash=False)
    timeout: float | None = None
    backoff: Callable[[int], float] | None = field(default=None, hash=False)
    tags: Sequence[str] = field(default=(), hash=False)
    #: Made by the ``django_tasks`` backport's ``@task`` (its signals are sent too).
    from_backport: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _TaskBase.__post_init__(self)
        if not self.from_backport and SOURCE == "django.tasks" and _called_from_backport():
            object.__setattr__(self, "from_backport", True)


#: Paths of Tasks made while Django was setting up (imported by an app's loading).
_STARTUP_TASKS: set[str] = set()


def _called_from_backport() -> bool:
    # The backport's @task builds the backend's task class on Django 6: look for
    # its frame among the few callers of this construction.
    frame: FrameType | None = sys._getframe(2)
    for _ in range(6):
        if frame is None:
            return False
        if frame.f_globals.get("__name__") == "django_tasks.base":
            return True
        frame = frame.f_back
    return False


class JobsBackend(BaseTaskBackend):
    """Store tasks as djobs Job rows, run with retries and rescue by ``manage.py runjobs``."""

    task_class = JobsTask

    supports_defer = True
    supports_priority = True
    supports_get_result = True
    # Coroutine functions are async jobs: awaited on the worker's event loop.
    supports_async_task = True

    def validate_task(self, task: Task[..., Any]) -> None:
        """Check ``task`` as Django does and that a worker may import it, then register it."""
        super().validate_task(task)
        if not apps.ready:
            # Made while Django sets up: every process (workers too) has it registered.
            _STARTUP_TASKS.add(task.module_path)
        why = None if task.module_path in _STARTUP_TASKS else module_rule_error(task.module_path)
        if why:
            raise InvalidTask(f"Task {task.module_path!r} cannot run on djobs: {why}")
        try:
            register_task(task, job_priority=job_priority(int(task.priority)))
        except JobDefinitionError as exc:
            raise InvalidTask(str(exc)) from None

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any, Any]:
        """Insert a Job for ``task``; inside ``transaction.atomic()`` it exists only if that commits."""
        from .enqueue import insert_pending

        self.validate_task(task)
        job = insert_pending([self._pending(task, args, kwargs)])[0]
        # With the priority and queue it was stored with (DJOBS['TASK_OPTIONS'] may change them).
        result = job_to_result(job, task_for_job(task, job), self.alias)
        if not job.duplicate:  # a unique task's duplicate enqueued nothing
            task_enqueued.send(type(self), task_result=result)
            backport = backport_signals(task)
            if backport is not None:
                backport.task_enqueued.send(type(self), task_result=result)
        return result

    def _pending(self, task: Task[..., Any], args: Any, kwargs: Any) -> PendingJob:
        from .conf import get_settings
        from .enqueue import build_pending
        from .serialization import check_arguments

        entry = register_task(task, job_priority=job_priority(int(task.priority)))
        try:
            # django.tasks' own conversion (bytes become str, any Mapping a dict);
            # build_pending then applies djobs' rules (NULs, depth, size) to the result.
            args, kwargs = normalize_json(list(args)), normalize_json(dict(kwargs))
        except (TypeError, ValueError, RecursionError):
            # Name the offending value (a RecursionError becomes the depth error).
            check_arguments(args, kwargs, max_bytes=get_settings().MAX_ARGUMENTS_BYTES)
            raise
        run_after = task.run_after
        stored: dict[str, Any] = {"backend": self.alias}
        if run_after is not None:
            stored["run_after"] = run_after.isoformat()  # read back as given (naive with USE_TZ = False)
            if timezone.is_naive(run_after):
                run_after = timezone.make_aware(run_after)  # only reachable with USE_TZ = False
        options_set = entry.raw_options
        priority = int(task.priority)
        if "priority" in options_set and (
            priority == DEFAULT_TASK_PRIORITY or _overridden(task.module_path, "priority")
        ):
            priority = int(options_set["priority"])
        queue = task.queue_name
        if "queue" in options_set and (queue == "default" or _overridden(task.module_path, "queue")):
            queue = str(options_set["queue"])
        stored["priority"] = priority
        # The registry entry's options carry max_attempts, unique and tags.
        options = replace(
            entry.options,
            queue=queue,
            priority=job_priority(priority),
            run_at=run_after,
            meta={"django_task": stored},
        )
        pending = build_pending(entry, args, kwargs, options)
        # Within its band, a higher Django priority runs first (djobs.tasks_compat.priority).
        pending.subpriority = -priority
        return pending

    def get_result(self, result_id: str) -> TaskResult[Any, Any]:
        """Return the TaskResult of the Job ``result_id``; raise TaskResultDoesNotExist."""
        job = self._get_job(result_id)
        entry = lookup_task(job.path)
        if entry is None and "django_task" in (job.meta or {}):
            # The process asking (a web server) may not have imported the task's
            # module yet, as django.tasks' own unpickling of a Task would.
            try:
                entry = import_task(job.path)
            except UnknownJobError:
                entry = None
        if entry is None:
            raise TaskResultDoesNotExist(
                f"Job {result_id} runs {job.path!r}, which is not a django.tasks Task."
            )
        stored = (job.meta or {}).get("django_task") or {}
        # The alias it was enqueued through, whichever djobs alias reads it back.
        return job_to_result(job, task_for_job(entry.task, job), str(stored.get("backend") or self.alias))

    def _get_job(self, result_id: Any) -> Job:
        from .conf import get_settings
        from .models import Job

        try:
            pk = int(result_id)
        except (TypeError, ValueError):
            raise TaskResultDoesNotExist(f"{result_id!r} is not a djobs job id.") from None
        try:
            return Job.objects.using(get_settings().DATABASE).get(pk=pk)
        except Job.DoesNotExist:
            raise TaskResultDoesNotExist(result_id) from None

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        """Report a djobs backend that cannot work as configured."""
        messages: list[checks.CheckMessage] = list(super().check(**kwargs))
        where = f"TASKS[{self.alias!r}]"
        if not apps.is_installed("djobs"):
            messages.append(
                checks.Error(
                    f"{where} uses djobs.backends.JobsBackend but 'djobs' is not in INSTALLED_APPS.",
                    hint="Add 'djobs' to INSTALLED_APPS and run migrate.",
                    id="djobs.tasks.E001",
                )
            )
        for problem in option_problems(self.options, f"{where}['OPTIONS']", BACKEND_KEYS):
            messages.append(
                checks.Error(
                    problem,
                    hint="OPTIONS are the djobs defaults of the tasks this backend runs; "
                    "djobs itself is configured with the DJOBS setting.",
                    id="djobs.tasks.E002",
                )
            )
        unserved = sorted(self.queues - _served_queues())
        if unserved:
            messages.append(
                checks.Warning(
                    f"{where}['QUEUES'] lists {unserved!r}, which DJOBS['QUEUES'] does not serve: "
                    "runjobs without --queue will not run their tasks.",
                    hint=f"Add {unserved[0]!r} to DJOBS['QUEUES'] with a concurrency, "
                    f"or run `manage.py runjobs --queue {unserved[0]}=N`.",
                    id="djobs.tasks.W001",
                )
            )
        return messages


def _overridden(path: str, key: str) -> bool:
    from .conf import get_settings
    from .tasks_compat.options import matching_overrides

    return key in matching_overrides(path, get_settings().TASK_OPTIONS)


def _served_queues() -> set[str]:
    # Read raw: a broken DJOBS is reported by djobs' own checks, not raised from this one.
    from .conf import DEFAULTS

    raw = getattr(settings, "DJOBS", None)
    queues = raw.get("QUEUES", DEFAULTS["QUEUES"]) if isinstance(raw, dict) else DEFAULTS["QUEUES"]
    return {str(name) for name in queues} if isinstance(queues, dict) else set()


__all__ = ["TASK_OPTIONS_SUPPORTED", "JobsBackend", "JobsTask"]
