"""A django.tasks Task as an entry of :mod:`djobs.registry`, so ``runjobs`` can run it.

The dispatcher only runs what the registry holds and calls
``job_function.func(context, *args, **kwargs)``. :class:`TaskJobFunction` is
that entry for a Task: its ``func`` is a :class:`TaskRunner`, which builds a
``TaskContext`` from the djobs :class:`~djobs.context.JobContext` when the
task takes one, and sends Django's ``task_started`` signal. A Task of an
``async def`` gets an :class:`AsyncTaskRunner` instead: an async job, awaited
on the worker's event loop like any ``@job async def`` (never through
``async_to_sync`` in the worker). ``task_finished`` is
sent once the outcome is committed, by :mod:`djobs.tasks_compat.finished`.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import registry
from ..decorators import JobFunction
from ..exceptions import JobDefinitionError
from ..outcomes import Cancel, Discard, Outcome, Snooze
from ..signatures import bind_call
from .api import (
    InvalidTask,
    TaskContext,
    TaskError,
    TaskResultStatus,
    normalize_json,
    task_started,
)
from .finished import backport_signals, stash
from .options import backoff_function, matching_overrides
from .results import job_to_result

if TYPE_CHECKING:
    from ..context import JobContext
    from ..models import Job
    from .api import Task, TaskResult


class TaskRunner:
    """The callable the dispatcher runs for a Task: ``runner(job_context, *args, **kwargs)``."""

    def __init__(self, task: Task[..., Any]) -> None:
        self.task = task
        # The registry tells a reloaded module (same place) from a clash (another function).
        self.__module__ = task.func.__module__
        self.__qualname__ = task.func.__qualname__
        self.__name__ = task.func.__name__

    def __call__(self, context: JobContext, *args: Any, **kwargs: Any) -> Any:
        task, result = self._started(context)
        try:
            if task.takes_context:
                value = task.call(TaskContext(task_result=result), *args, **kwargs)
            else:
                value = task.call(*args, **kwargs)
            value = self._returned(value)
        except BaseException as exc:
            self._raised(context, result, exc)
            raise
        return self._succeeded(context, result, value)

    def _task_result(self, context: JobContext) -> tuple[Task[..., Any], TaskResult[..., Any]]:
        task = task_for_job(self.task, context.job)
        # Built from the claimed row alone (see job_to_result): like django-tasks-db,
        # a RUNNING result lists no past errors; get_result() has them all.
        return task, job_to_result(context.job, task, task.get_backend().alias, loaded_only=True)

    def _started(self, context: JobContext) -> tuple[Task[..., Any], TaskResult[..., Any]]:
        task, result = self._task_result(context)
        sender = type(task.get_backend())
        task_started.send(sender=sender, task_result=result)
        backport = backport_signals(task)
        if backport is not None:
            backport.task_started.send(sender=sender, task_result=result)
        return task, result

    @staticmethod
    def _returned(value: Any) -> Any:
        if isinstance(value, Outcome):
            raise value
        return normalize_json(value)

    @staticmethod
    def _raised(context: JobContext, result: TaskResult[..., Any], exc: BaseException) -> None:
        if isinstance(exc, Snooze):
            return
        if isinstance(exc, Cancel | Discard) or context.is_last_attempt:
            _finish(result, TaskResultStatus.FAILED, exc)
            stash(context.job.id, result)  # sent once the outcome is committed

    @staticmethod
    def _succeeded(context: JobContext, result: TaskResult[..., Any], value: Any) -> Any:
        object.__setattr__(result, "_return_value", value)
        _finish(result, TaskResultStatus.SUCCESSFUL, None)
        stash(context.job.id, result)
        return value


class AsyncTaskRunner(TaskRunner):
    """The runner of a Task whose function is ``async def``: awaited on the worker's loop."""

    async def __call__(self, context: JobContext, *args: Any, **kwargs: Any) -> Any:
        task, result = self._task_result(context)
        sender = type(task.get_backend())
        # Receivers are sync code, often with queries: asend runs them in a thread.
        await task_started.asend(sender=sender, task_result=result)
        backport = backport_signals(task)
        if backport is not None:
            await backport.task_started.asend(sender=sender, task_result=result)
        try:
            if task.takes_context:
                value = await task.acall(TaskContext(task_result=result), *args, **kwargs)
            else:
                value = await task.acall(*args, **kwargs)
            value = self._returned(value)
        except BaseException as exc:
            self._raised(context, result, exc)
            raise
        return self._succeeded(context, result, value)


def _finish(result: TaskResult[..., Any], status: TaskResultStatus, exc: BaseException | None) -> None:
    # TaskResult is frozen; Django's own backends set its fields the same way.
    object.__setattr__(result, "status", status)
    object.__setattr__(result, "finished_at", timezone.now())
    if exc is not None:
        kind = type(exc)
        result.errors.append(
            TaskError(
                exception_class_path=f"{kind.__module__}.{kind.__qualname__}",
                traceback="".join(traceback.format_exception(exc)),
            )
        )


class TaskJobFunction(JobFunction[..., Any]):
    """The registry entry of a django.tasks Task; ``.task`` is the Task as decorated."""

    def __init__(
        self, task: Task[..., Any], *, job_priority: int, options: dict[str, Any] | None = None
    ) -> None:
        self.raw_options = effective_options(task) if options is None else options
        options = dict(self.raw_options)
        options["backoff"] = backoff_function(options.get("backoff"))
        runner = AsyncTaskRunner(task) if inspect.iscoroutinefunction(task.func) else TaskRunner(task)
        super().__init__(
            runner,
            name=task.module_path,
            queue=task.queue_name,
            priority=job_priority,
            max_attempts=options.get("max_attempts"),
            tags=tuple(options.get("tags") or ()),
            takes_context=True,
            unique=options.get("unique"),
            timeout=options.get("timeout"),
            backoff=options.get("backoff"),
        )
        self.task = task
        self.task_signature = inspect.signature(task.func)

    def bind_arguments(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Map a call's arguments to the task function's parameter names; raise TypeError."""
        params = list(self.task_signature.parameters.values())
        if self.task.takes_context and params:
            params = params[1:]
        signature = self.task_signature.replace(parameters=params)
        return bind_call(signature, f"{self.path}{signature}", args, kwargs)

    def __repr__(self) -> str:
        return f"<task {self.path}>"


#: djobs options a task class may carry (``djobs.backends.JobsTask``'s extra fields).
OPTION_NAMES = ("max_attempts", "unique", "timeout", "backoff", "tags")


def task_options(task: Task[..., Any]) -> dict[str, Any]:
    """Return the djobs options set on ``task`` (none for a plain django.tasks Task)."""
    return {name: getattr(task, name) for name in OPTION_NAMES if getattr(task, name, None) is not None}


def effective_options(task: Task[..., Any]) -> dict[str, Any]:
    """Return ``task``'s djobs options: its backend's OPTIONS, then its own, then DJOBS['TASK_OPTIONS']."""
    from django.conf import settings

    from ..conf import get_settings

    merged: dict[str, Any] = {}
    params = (getattr(settings, "TASKS", None) or {}).get(task.backend)
    if isinstance(params, dict) and _is_jobs_backend(str(params.get("BACKEND", ""))):
        merged.update(params.get("OPTIONS") or {})
    merged.update(task_options(task))
    merged.update(matching_overrides(task.module_path, get_settings().TASK_OPTIONS))
    return merged


def _is_jobs_backend(path: str) -> bool:
    from django.utils.module_loading import import_string

    from ..backends import JobsBackend

    try:
        backend = import_string(path)
    except ImportError:
        return False
    return isinstance(backend, type) and issubclass(backend, JobsBackend)


def register_task(task: Task[..., Any], *, job_priority: int) -> TaskJobFunction:
    """Put ``task`` in djobs' registry under its module path, once per function and options."""
    path = task.module_path
    if registry.is_registered(path):
        existing = registry.lookup(path)
        if isinstance(existing, TaskJobFunction) and existing.task.func is task.func:
            options = effective_options(task)
            if options == existing.raw_options:
                return existing
            return TaskJobFunction(existing.task, job_priority=job_priority, options=options)
        if not isinstance(existing, TaskJobFunction):
            raise JobDefinitionError(
                f"{path!r} is already a @job function; a django.tasks Task cannot take its path. "
                "Rename one of them."
            )
    return TaskJobFunction(task, job_priority=job_priority)


def lookup_task(path: str) -> TaskJobFunction | None:
    """Return the registry entry of the Task at ``path``, or None if it is not a Task."""
    if not registry.is_registered(path):
        return None
    entry = registry.lookup(path)
    return entry if isinstance(entry, TaskJobFunction) else None


def task_for_job(task: Task[..., Any], job: Job) -> Task[..., Any]:
    """Return ``task`` with the priority, queue and run_after its ``job`` was enqueued with."""
    stored = (job.meta or {}).get("django_task") or {}
    changes: dict[str, Any] = {}
    if isinstance(stored.get("priority"), int) and stored["priority"] != task.priority:
        changes["priority"] = stored["priority"]
    if job.queue != task.queue_name:
        changes["queue_name"] = job.queue
    if stored.get("run_after"):
        changes["run_after"] = parse_datetime(stored["run_after"])
    if isinstance(stored.get("backend"), str) and stored["backend"] != task.backend:
        changes["backend"] = stored["backend"]
    if not changes:
        return task
    try:
        return task.using(**changes)
    except (InvalidTask, ImproperlyConfigured):
        # A queue the backend no longer lists, an alias since removed: keep the definition.
        return task


__all__ = ["AsyncTaskRunner", "TaskJobFunction", "TaskRunner", "lookup_task", "register_task", "task_for_job"]
