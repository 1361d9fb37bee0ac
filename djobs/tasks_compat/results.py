"""Reading a Job row as a django.tasks ``TaskResult``: states, errors, attempts, workers.

========================  ==========  ==============================
djobs state               status      why
========================  ==========  ==============================
scheduled, available      READY       waiting to run
retryable                 READY       "ready to be executed again"
executing                 RUNNING
completed                 SUCCESSFUL  ``return_value`` is the result
discarded, cancelled      FAILED      ``errors`` says why
========================  ==========  ==============================
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..states import JobState
from .api import TaskError, TaskResult, TaskResultStatus

if TYPE_CHECKING:
    from ..models import Job
    from .api import Task

_STATUS = {
    JobState.SCHEDULED: TaskResultStatus.READY,
    JobState.AVAILABLE: TaskResultStatus.READY,
    JobState.RETRYABLE: TaskResultStatus.READY,
    JobState.WAITING: TaskResultStatus.READY,
    JobState.EXECUTING: TaskResultStatus.RUNNING,
    JobState.COMPLETED: TaskResultStatus.SUCCESSFUL,
    JobState.DISCARDED: TaskResultStatus.FAILED,
    JobState.CANCELLED: TaskResultStatus.FAILED,
}

_FINISHED = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)

# Outcomes and errors djobs records without a traceback, by their entry's prefix.
_KNOWN_NAMES = {
    "Cancelled": "djobs.outcomes.Cancel",
    "Discarded": "djobs.outcomes.Discard",
    "JobCancelled": "djobs.exceptions.JobCancelled",
    "JobTimeout": "djobs.exceptions.JobTimeout",
    "UnknownJobError": "djobs.exceptions.UnknownJobError",
    "WorkerLost": "djobs.exceptions.WorkerLost",
    "WorkerReleased": "djobs.exceptions.WorkerReleased",
}
# The last line of a formatted traceback: "pkg.mod.Class: message" or "ValueError".
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")


def task_status(state: str) -> TaskResultStatus:
    """Return the TaskResultStatus of a job in ``state``."""
    try:
        return _STATUS[JobState(state)]
    except ValueError:
        raise ValueError(f"{state!r} is not a djobs job state ({', '.join(JobState.values)}).") from None


def exception_class_path(entry: Mapping[str, Any]) -> str:
    """Return the dotted class path of the exception one ``Job.errors`` entry records.

    Uses the entry's ``exception`` key when the dispatcher wrote one, else the
    traceback's exception line (Python writes ``module.Class: message`` there
    for anything not builtin), else the ``"Type: message"`` summary.
    """
    explicit = entry.get("exception") or entry.get("exception_class")
    if isinstance(explicit, str) and explicit:
        return explicit
    summary = _EXCEPTION_LINE.match(str(entry.get("error") or "").strip())
    name = summary.group(1) if summary else ""
    # From the end: notes added to an exception are printed after its line.
    for line in reversed(str(entry.get("traceback") or "").splitlines()):
        found = _EXCEPTION_LINE.match(line.strip())
        if found and (not name or found.group(1) == name or found.group(1).endswith(f".{name}")):
            return _qualify(found.group(1))
    return _qualify(name) if name else "builtins.Exception"


def _qualify(name: str) -> str:
    if name in _KNOWN_NAMES:
        return _KNOWN_NAMES[name]
    if "." in name:
        return name
    if isinstance(getattr(builtins, name, None), type):
        return f"builtins.{name}"
    return name


def task_errors(job_errors: Sequence[Any]) -> list[TaskError]:
    """Return a TaskError per entry of ``Job.errors``, oldest first."""
    errors = []
    for entry in job_errors or ():
        if not isinstance(entry, Mapping):
            entry = {"error": str(entry)}
        traceback = entry.get("traceback") or entry.get("error") or ""
        errors.append(TaskError(exception_class_path=exception_class_path(entry), traceback=str(traceback)))
    return errors


def worker_ids(attempt: int, job_errors: Sequence[Any], current: str | None) -> list[str]:
    """Return one worker id per attempt made so far (``TaskResult.attempts`` is their count).

    Error entries name the worker of a failed attempt when the dispatcher
    recorded it; otherwise the row's last worker stands in.
    """
    by_attempt: dict[int, str] = {}
    for entry in job_errors or ():
        if isinstance(entry, Mapping) and entry.get("worker_id") and isinstance(entry.get("attempt"), int):
            by_attempt[entry["attempt"]] = str(entry["worker_id"])
    return [by_attempt.get(n, current or "") for n in range(1, max(attempt, 0) + 1)]


def job_to_result(
    job: Job, task: Task[..., Any], backend: str, *, loaded_only: bool = False
) -> TaskResult[..., Any]:
    """Return the TaskResult that ``job`` (a row of ``task``) stands for.

    With ``loaded_only``, columns the instance was not loaded with are not
    fetched: a claimed row leaves out errors, result and inserted_at, and a
    query per run would cost more than the rest of the task layer together.
    """
    missing = job.get_deferred_fields() if loaded_only else set()

    def read(name: str, default: Any) -> Any:
        return default if name in missing else getattr(job, name)

    status = task_status(job.state)
    job_errors = read("errors", [])
    result = TaskResult(
        task=task,
        id=str(job.pk),
        status=status,
        enqueued_at=read("inserted_at", None),
        started_at=job.attempted_at,
        finished_at=read("finished_at", None) if status in _FINISHED else None,
        last_attempted_at=job.attempted_at,
        args=list(job.args or []),
        kwargs=dict(job.kwargs or {}),
        backend=backend,
        errors=task_errors(job_errors),
        worker_ids=worker_ids(job.attempt, job_errors, job.worker_id),
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", read("result", None))
    return result


__all__ = ["exception_class_path", "job_to_result", "task_errors", "task_status", "worker_ids"]
