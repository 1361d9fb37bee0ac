"""``task_finished``, sent once per finished task by the process that made it final.

A task's outcome is final only once it is committed, and the process that
commits it is not always the one that ran it: a worker records what its job
returned or raised, a rescuer fails the task of a worker that died, an
operator cancels it (the admin, ``jobs cancel``, ``djobs.operations.cancel``).
Every one of them calls the terminal hooks (:mod:`djobs.hooks`) after the
commit, and :func:`send_finished`, registered there, sends the signal:

- for a task that ran in this process, the ``TaskResult`` its run built (with
  its return value, or the error and traceback), which the job's thread
  :func:`stash`-ed instead of sending;
- for any other (rescued, cancelled, timed out, not stored), a result read
  from the committed row.

So a worker whose outcome is fenced out (the task was cancelled or rescued
meanwhile) sends nothing, and the signal is never sent twice for one attempt.
Tasks made with the ``django_tasks`` backport also get the backport's signals.
"""

from __future__ import annotations

import logging
import sys
import threading
from importlib.util import find_spec
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..hooks import TerminalJob
    from .api import Task, TaskResult

logger = logging.getLogger("djobs")

#: Results of tasks that ran here, by job id, until their outcome is committed.
_stash: dict[int, TaskResult[..., Any]] = {}
_lock = threading.Lock()
# An outcome that was never recorded (fenced out) leaves its result behind; keep a bounded few.
STASH_LIMIT = 10_000

_SUCCESS_STATES = {"completed"}


def stash(job_id: int, result: TaskResult[..., Any]) -> None:
    """Keep the final ``result`` of a task that ran here until its outcome is committed."""
    with _lock:
        _stash[job_id] = result
        while len(_stash) > STASH_LIMIT:
            del _stash[next(iter(_stash))]


def backport_signals(task: Task[..., Any]) -> ModuleType | None:
    """Return ``django_tasks.signals`` when ``task`` was made by the backport beside django.tasks."""
    from .api import SOURCE

    if SOURCE != "django.tasks" or not getattr(task, "from_backport", False):
        return None
    if "django_tasks.signals" not in sys.modules and find_spec("django_tasks") is None:
        return None
    from django_tasks import signals  # type: ignore[import-not-found,unused-ignore]

    return signals  # type: ignore[no-any-return,unused-ignore]


def send_finished(ended: list[TerminalJob]) -> None:
    """The terminal hook: send ``task_finished`` for each django.tasks job in ``ended``."""
    tasks = [job for job in ended if "django_task" in (job.meta or {})]
    if not tasks:
        return
    unread = []
    for job in tasks:
        with _lock:
            result = _stash.pop(job.id, None)
        if result is not None and _agrees(result, job.state):
            _send(result)
        else:
            unread.append(job.id)
    if unread:
        for result in _read_results(unread):
            _send(result)


def _agrees(result: TaskResult[..., Any], state: str) -> bool:
    from .api import TaskResultStatus

    expected = TaskResultStatus.SUCCESSFUL if state in _SUCCESS_STATES else TaskResultStatus.FAILED
    return bool(result.status == expected)


def _read_results(ids: list[int]) -> list[TaskResult[..., Any]]:
    from .. import registry
    from ..conf import get_settings
    from ..exceptions import UnknownJobError
    from ..models import Job
    from .results import job_to_result
    from .runner import TaskJobFunction, task_for_job

    results = []
    for job in Job.objects.using(get_settings().DATABASE).filter(pk__in=ids).order_by("id"):
        try:
            entry = registry.lookup(job.path, job.meta)
        except UnknownJobError as exc:
            logger.warning("djobs sent no task_finished for job %s: %s", job.id, exc)
            continue
        if not isinstance(entry, TaskJobFunction):
            continue
        task = task_for_job(entry.task, job)
        results.append(
            job_to_result(job, task, str((job.meta["django_task"] or {}).get("backend", task.backend)))
        )
    return results


def _send(result: TaskResult[..., Any]) -> None:
    from .api import task_finished

    task = result.task
    sender: type[Any]
    try:
        sender = type(task.get_backend())
    except Exception:  # an alias since removed from TASKS
        sender = type(None)
    receivers = [task_finished]
    backport = backport_signals(task)
    if backport is not None:
        receivers.append(backport.task_finished)
    for signal in receivers:
        for receiver, error in signal.send_robust(sender=sender, task_result=result):
            if isinstance(error, Exception):
                logger.error(
                    "task_finished receiver %r failed for task %s",
                    receiver,
                    result.id,
                    exc_info=(type(error), error, error.__traceback__),
                )


def connect(hooks: Any) -> None:
    """Register :func:`send_finished` as a terminal hook (from ``DjobsConfig.ready()``)."""
    from ..hooks import TerminalHook

    hooks.add_terminal(TerminalHook(send_finished))


__all__ = ["backport_signals", "connect", "send_finished", "stash"]
