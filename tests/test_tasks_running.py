"""Tasks written only against django.tasks, run by djobs' dispatcher (in-process and runjobs)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("djobs.backends", reason="django.tasks needs Django 6.0+ or the django-tasks backport")

from django.test import override_settings

from djobs.models import Job
from djobs.tasks_compat.api import (
    TASK_OPTIONS_SUPPORTED,
    TaskResultStatus,
    default_task_backend,
    task_finished,
    task_started,
)
from djobs.worker.runner import run_burst
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def task_signals() -> Iterator[list[tuple[str, str, Any]]]:
    """Record (signal, status, result) for every task_started/task_finished sent."""
    seen: list[tuple[str, str, Any]] = []

    def on_started(sender: Any, task_result: Any, **kwargs: Any) -> None:
        seen.append(("started", str(task_result.status), task_result))

    def on_finished(sender: Any, task_result: Any, **kwargs: Any) -> None:
        seen.append(("finished", str(task_result.status), task_result))

    task_started.connect(on_started, dispatch_uid="test-started")
    task_finished.connect(on_finished, dispatch_uid="test-finished")
    yield seen
    task_started.disconnect(dispatch_uid="test-started")
    task_finished.disconnect(dispatch_uid="test-finished")


def test_a_task_runs_to_completion_and_reads_back_successful() -> None:
    result = tasks.add.enqueue(2, 3)
    run_burst({"default": 1})
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.attempts == 1
    assert result.worker_ids[0]
    assert result.started_at is not None and result.finished_at is not None
    assert result.errors == []


def test_the_return_value_is_normalised_to_json_as_django_does() -> None:
    result = tasks.returns_tuple.enqueue()
    run_burst({"default": 1})
    assert default_task_backend.get_result(result.id).return_value == [1, 2]


def test_an_async_task_function_runs_in_the_worker() -> None:
    result = tasks.async_add.enqueue(20, 22)
    run_burst({"default": 1})
    result.refresh()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 42)


def test_an_async_task_can_use_the_async_orm_in_the_worker() -> None:
    result = tasks.count_jobs_async.enqueue("tests.testapp.tasks.count_jobs_async")
    run_burst({"default": 1})
    result.refresh()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 1)


def test_a_task_taking_context_gets_a_task_context_of_its_running_job() -> None:
    result = tasks.describe_context.enqueue("ctx")
    run_burst({"default": 1})
    result.refresh()
    assert result.return_value == {
        "label": "ctx",
        "attempt": 1,
        "id": result.id,
        "status": "RUNNING",
        "task": "tests.testapp.tasks.describe_context",
    }


def test_a_failed_attempt_leaves_the_task_ready_with_its_error() -> None:
    result = tasks.fail.enqueue("boom")
    run_burst({"default": 1})
    result.refresh()
    assert result.status == TaskResultStatus.READY
    assert Job.objects.get(pk=result.id).state == Job.State.RETRYABLE
    assert result.attempts == 1
    [error] = result.errors
    assert error.exception_class is ValueError
    assert "boom" in error.traceback and "Traceback" in error.traceback


@override_settings(DJOBS={"DEFAULT_MAX_ATTEMPTS": 1})
def test_a_task_failing_its_last_attempt_fails() -> None:
    result = tasks.fail.enqueue("boom")
    run_burst({"default": 1})
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in result.errors] == ["builtins.ValueError"]
    with pytest.raises(ValueError, match="failed"):
        _ = result.return_value


@pytest.mark.skipif(not TASK_OPTIONS_SUPPORTED, reason="@task(**options) needs Django 6.1+")
def test_max_attempts_given_in_the_task_decorator_ends_the_retries() -> None:
    result = tasks.fail_once.enqueue("once")
    run_burst({"default": 1})
    result.refresh()
    assert (result.status, result.attempts) == (TaskResultStatus.FAILED, 1)
    assert result.errors[0].exception_class is RuntimeError


def test_running_a_claimed_task_reads_nothing_more_from_the_database(
    django_assert_num_queries: Any,
) -> None:
    from djobs import registry
    from djobs.context import JobContext

    result = tasks.add.enqueue(2, 2)
    Job.objects.filter(pk=result.id).update(state=Job.State.EXECUTING, attempt=1, worker_id="w1")
    # As the dispatcher claims it: errors, result, inserted_at and others are left out.
    job = Job.objects.defer("errors", "result", "finished_at", "inserted_at", "tags").get(pk=result.id)
    with django_assert_num_queries(0):
        assert registry.lookup(job.path).func(JobContext(job), *job.args) == 4


def test_djangos_task_signals_are_sent_around_a_successful_run(task_signals: list[Any]) -> None:
    result = tasks.add.enqueue(1, 1)
    run_burst({"default": 1})
    assert [(name, status) for name, status, _ in task_signals] == [
        ("started", "RUNNING"),
        ("finished", "SUCCESSFUL"),
    ]
    assert task_signals[1][2].id == result.id
    assert task_signals[1][2].return_value == 2


def test_a_failure_that_will_be_retried_sends_no_task_finished(task_signals: list[Any]) -> None:
    tasks.fail.enqueue("again")
    run_burst({"default": 1})
    assert [name for name, _, _ in task_signals] == ["started"]


@override_settings(DJOBS={"DEFAULT_MAX_ATTEMPTS": 1})
def test_a_failure_on_the_last_attempt_sends_task_finished_failed(task_signals: list[Any]) -> None:
    tasks.fail.enqueue("last")
    run_burst({"default": 1})
    name, status, finished = task_signals[-1]
    assert (name, status) == ("finished", "FAILED")
    assert finished.errors[-1].exception_class_path == "builtins.ValueError"


def test_a_cancelled_task_fails_at_once_with_the_cancel_outcome(task_signals: list[Any]) -> None:
    result = tasks.cancels.enqueue("spam")
    run_burst({"default": 1})
    result.refresh()
    assert (result.status, result.attempts) == (TaskResultStatus.FAILED, 1)
    assert [e.exception_class_path for e in result.errors] == ["djobs.outcomes.Cancel"]
    assert [(name, status) for name, status, _ in task_signals][-1] == ("finished", "FAILED")


def test_a_snoozed_task_is_ready_again_without_an_error_or_a_finish(task_signals: list[Any]) -> None:
    result = tasks.snoozes.enqueue(3600)
    run_burst({"default": 1})
    result.refresh()
    assert (result.status, result.attempts, result.errors) == (TaskResultStatus.READY, 0, [])
    assert Job.objects.get(pk=result.id).state == Job.State.SCHEDULED
    assert [name for name, _, _ in task_signals] == ["started"]


def test_tasks_enqueued_in_a_batch_finish_it() -> None:
    from djobs import batch
    from djobs.models import Batch

    with batch(description="django.tasks") as handle:
        results = [tasks.add.enqueue(i, i) for i in range(3)]
    assert {Job.objects.get(pk=r.id).batch_id for r in results} == {str(handle.id)}
    run_burst({"default": 2})
    row = Batch.objects.get(pk=handle.id)
    assert row.state == Batch.State.FINISHED
    assert row.counts["completed"] == 3


def test_higher_django_priority_runs_first() -> None:
    low = tasks.add.using(priority=-50).enqueue(0, 1)
    default = tasks.add.enqueue(0, 2)
    high = tasks.add.using(priority=90).enqueue(0, 3)
    run_burst({"default": 1})
    # finished_at, not attempted_at: jobs claimed together share their claim time.
    order = Job.objects.filter(pk__in=[low.id, default.id, high.id]).order_by("finished_at")
    assert [job.result for job in order] == [3, 2, 1]


@pytest.mark.slow
def test_a_task_written_only_against_django_tasks_runs_under_runjobs() -> None:
    results = [tasks.add.enqueue(1, 2), tasks.async_add.enqueue(3, 4), tasks.send_email.enqueue("a@b.c")]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "PYTHONPATH": str(ROOT),
    }
    queues = ["--queue", "default=2", "--queue", "emails=1"]
    command = [sys.executable, str(ROOT / "manage.py"), "runjobs", "--burst", *queues]
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"runjobs --burst did not exit in 60 s:\n{exc.output}") from None
    assert done.returncode == 0, done.stdout + done.stderr
    for result in results:
        result.refresh()
    assert [r.status for r in results] == [TaskResultStatus.SUCCESSFUL] * 3, done.stdout + done.stderr
    assert [r.return_value for r in results] == [3, 7, {"to": "a@b.c", "subject": "hello"}]
    assert all(r.worker_ids and r.worker_ids[0] for r in results)
