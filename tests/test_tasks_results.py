"""django.tasks results read from djobs' Job rows: statuses, errors, attempts, lookups.

Skipped as a whole where django.tasks does not exist (Django 5.2 without the backport).
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("djobs.backends", reason="django.tasks needs Django 6.0+ or the django-tasks backport")

from django.utils import timezone

from djobs import registry
from djobs.models import Job
from djobs.tasks_compat.api import (
    TaskResultDoesNotExist,
    TaskResultMismatch,
    TaskResultStatus,
    default_task_backend,
)
from djobs.tasks_compat.results import exception_class_path
from tests.factories import JobFactory
from tests.testapp import tasks

S = Job.State


# -- get_result ---------------------------------------------------------------

BOOM_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "tests/testapp/tasks.py", line 30, in fail\n'
    "    raise ValueError(message)\n"
    "ValueError: boom\n"
)


def error(attempt: int, **extra: Any) -> dict[str, Any]:
    entry = {
        "attempt": attempt,
        "at": timezone.now().isoformat(),
        "error": "ValueError: boom",
        "traceback": BOOM_TRACEBACK,
    }
    entry.update(extra)
    return entry


def task_job(**fields: Any) -> Job:
    fields.setdefault("path", "tests.testapp.tasks.add")
    return JobFactory(**fields)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "status"),
    [
        (S.SCHEDULED, "READY"),
        (S.AVAILABLE, "READY"),
        (S.RETRYABLE, "READY"),
        (S.EXECUTING, "RUNNING"),
        (S.COMPLETED, "SUCCESSFUL"),
        (S.DISCARDED, "FAILED"),
        (S.CANCELLED, "FAILED"),
    ],
)
def test_get_result_maps_each_job_state_onto_a_task_status(state: str, status: str) -> None:
    now = timezone.now()
    finished = now if state in (S.COMPLETED, S.DISCARDED, S.CANCELLED) else None
    job = task_job(state=state, attempt=1, attempted_at=now, finished_at=finished, worker_id="w1", result=3)
    result = default_task_backend.get_result(str(job.pk))
    assert result.status == TaskResultStatus[status]
    assert result.is_finished == (finished is not None)
    assert result.finished_at == finished
    assert (result.started_at, result.last_attempted_at) == (now, now)


@pytest.mark.django_db
def test_a_successful_result_carries_the_return_value() -> None:
    job = task_job(state=S.COMPLETED, attempt=1, finished_at=timezone.now(), result={"sum": 3})
    assert tasks.add.get_result(str(job.pk)).return_value == {"sum": 3}


@pytest.mark.django_db
@pytest.mark.parametrize("state", [S.AVAILABLE, S.DISCARDED])
def test_an_unfinished_or_failed_result_has_no_return_value(state: str) -> None:
    job = task_job(state=state, result=3)
    with pytest.raises(ValueError, match=r"not finished|failed"):
        _ = tasks.add.get_result(str(job.pk)).return_value


@pytest.mark.django_db
def test_errors_carry_the_exception_class_path_and_traceback() -> None:
    job = task_job(state=S.DISCARDED, attempt=2, max_attempts=2, errors=[error(1), error(2)])
    result = default_task_backend.get_result(str(job.pk))
    assert [e.exception_class_path for e in result.errors] == ["builtins.ValueError"] * 2
    assert result.errors[0].exception_class is ValueError
    assert result.errors[0].traceback == BOOM_TRACEBACK


@pytest.mark.django_db
def test_error_class_paths_come_from_the_entry_the_traceback_or_the_outcome() -> None:
    last_line = "myapp.errors.PaymentDeclined: card"
    custom = error(1, traceback=f"Traceback...\n{last_line}\n", error="PaymentDeclined: card")
    explicit = error(2, exception="django.core.exceptions.ValidationError")
    cancelled = error(3, error="Cancelled: spam", traceback=None)
    job = task_job(state=S.CANCELLED, attempt=3, errors=[custom, explicit, cancelled])
    result = default_task_backend.get_result(str(job.pk))
    assert [e.exception_class_path for e in result.errors] == [
        "myapp.errors.PaymentDeclined",
        "django.core.exceptions.ValidationError",
        "djobs.outcomes.Cancel",
    ]
    assert result.errors[2].traceback == "Cancelled: spam"


def test_an_error_class_path_is_found_above_the_exceptions_notes() -> None:
    noted = "Traceback...\nmyapp.errors.Declined: card\nhint: ask for another card\n"
    assert exception_class_path({"error": "Declined: card", "traceback": noted}) == "myapp.errors.Declined"
    assert exception_class_path({"error": "KeyError: 'x'", "traceback": None}) == "builtins.KeyError"
    assert exception_class_path({}) == "builtins.Exception"


@pytest.mark.django_db
def test_attempts_and_worker_ids_count_every_attempt() -> None:
    job = task_job(state=S.EXECUTING, attempt=3, worker_id="w3", errors=[error(1, worker_id="w1"), error(2)])
    result = default_task_backend.get_result(str(job.pk))
    assert result.worker_ids == ["w1", "w3", "w3"]
    assert result.attempts == 3


@pytest.mark.django_db
def test_refresh_reads_the_rows_new_state() -> None:
    result = tasks.add.enqueue(2, 3)
    finished = {"state": S.COMPLETED, "result": 5, "attempt": 1, "finished_at": timezone.now()}
    Job.objects.filter(pk=result.id).update(**finished)
    result.refresh()
    assert (result.status, result.return_value, result.attempts) == (TaskResultStatus.SUCCESSFUL, 5, 1)


@pytest.mark.django_db
@pytest.mark.parametrize("result_id", ["999999", "not-a-number", ""])
def test_get_result_of_a_missing_id_raises_task_result_does_not_exist(result_id: str) -> None:
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result(result_id)


@pytest.mark.django_db
def test_get_result_of_a_plain_job_is_not_a_task_result() -> None:
    job = JobFactory(path="tests.testapp.jobs.add")
    with pytest.raises(TaskResultDoesNotExist, match=r"not a django\.tasks Task"):
        default_task_backend.get_result(str(job.pk))


@pytest.mark.django_db
def test_get_result_finds_a_task_its_process_has_not_registered() -> None:
    result = tasks.add.enqueue(1, 2)
    registry.unregister("tests.testapp.tasks.add")
    try:
        assert default_task_backend.get_result(result.id).task.func is tasks.add.func
    finally:
        registry.unregister("tests.testapp.tasks.add")
        tasks.add.using(priority=0)  # validating a Task registers it again
    assert registry.is_registered("tests.testapp.tasks.add")


@pytest.mark.django_db
def test_get_result_through_another_task_is_a_mismatch() -> None:
    result = tasks.add.enqueue(1, 2)
    with pytest.raises(TaskResultMismatch):
        tasks.fail.get_result(result.id)
