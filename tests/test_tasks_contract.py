"""Django's ``django.tasks`` contract, held by djobs' backend test by test.

What Django's own tests (``tests/tasks/``) and django-tasks-db's worker tests
expect of a backend: enqueue, results, errors, context, signals, priorities,
``run_after``, queues, transactions, retries, rescue and cancel. Runs on every
database the suite runs on, under Django 6.0/6.1 (``django.tasks``) and 5.2
(the ``django-tasks`` backport). Where the contract is about the worker, a real
``runjobs`` process runs the tasks.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib.util import find_spec
from typing import Any

import pytest

pytest.importorskip("djobs.backends", reason="django.tasks needs Django 6.0+ or the django-tasks backport")

from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from djobs import operations
from djobs.backends import JobsBackend
from djobs.checks import check_sqlite_threads
from djobs.exceptions import JobCancelled, WorkerLost
from djobs.maintenance.rescuer import Rescuer, RescuerConfig
from djobs.models import Job
from djobs.tasks_compat.api import (
    SOURCE,
    InvalidTask,
    TaskResultStatus,
    default_task_backend,
    task_backends,
    task_finished,
    task_started,
)
from djobs.worker.runner import run_burst
from tests import tasks_outside_apps
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)

_DUMMY = f"{SOURCE}.backends.dummy.DummyBackend"
JOBS = {"BACKEND": "djobs.backends.JobsBackend", "QUEUES": ["default", "emails"]}
# The TASKS of tests/tasks_contract_settings.py, the workers' settings here.
CONTRACT_TASKS = {"default": JOBS, "secondary": JOBS, "other": {"BACKEND": _DUMMY}}
WORKER = "tests.tasks_contract_settings"


@pytest.fixture
def contract_tasks() -> Iterator[Any]:
    """The TASKS the contract workers run with, and the tasks module nothing imports at start-up."""
    with override_settings(TASKS=CONTRACT_TASKS):
        from tests.testapp import contract_tasks

        yield contract_tasks


@pytest.fixture
def finished() -> Iterator[list[Any]]:
    """Every task_finished sent in this process, as (status, result)."""
    seen: list[Any] = []

    def on_finished(sender: Any, task_result: Any, **kwargs: Any) -> None:
        seen.append((task_result.status, task_result))

    task_finished.connect(on_finished, dispatch_uid="contract-finished")
    yield seen
    task_finished.disconnect(dispatch_uid="contract-finished")


def burst_worker(*queues: str) -> RunJobs:
    args = [arg for queue in queues or ("default=2",) for arg in ("--queue", queue)]
    return RunJobs("--burst", *args, DJANGO_SETTINGS_MODULE=WORKER)


# -- enqueue and results ------------------------------------------------------


def test_enqueue_returns_a_ready_result_with_its_enqueue_time_and_alias() -> None:
    result = tasks.add.enqueue(1, 2)
    assert result.status == TaskResultStatus.READY
    assert result.enqueued_at is not None
    assert result.backend == "default" and result.task.backend == "default"
    assert (result.args, result.kwargs) == ([1, 2], {})


def test_a_result_read_through_a_second_djobs_alias_keeps_the_alias_it_was_enqueued_with(
    contract_tasks: Any,
) -> None:
    result = tasks.add.using(backend="secondary").enqueue(1, 2)
    for alias in ("secondary", "default"):
        read = task_backends[alias].get_result(result.id)
        assert (read.backend, read.task.backend) == ("secondary", "secondary")
    result.refresh()
    assert result.task.backend == "secondary"


# -- errors -------------------------------------------------------------------


@override_settings(DJOBS={"DEFAULT_MAX_ATTEMPTS": 1})
def test_a_failed_task_names_an_importable_exception_class() -> None:
    result = tasks.fail.enqueue("boom")
    run_burst({"default": 1})
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[-1].exception_class is ValueError


# -- context and signals ------------------------------------------------------


def test_the_task_context_and_signals_carry_the_enqueue_time(finished: list[Any]) -> None:
    started: list[Any] = []

    def on_started(sender: Any, task_result: Any, **kwargs: Any) -> None:
        started.append(task_result)

    task_started.connect(on_started, dispatch_uid="contract-started")
    try:
        result = tasks.add.enqueue(1, 1)
        run_burst({"default": 1})
    finally:
        task_started.disconnect(dispatch_uid="contract-started")
    assert [r.enqueued_at for r in started] == [result.enqueued_at]
    assert [(status, r.enqueued_at) for status, r in finished] == [
        (TaskResultStatus.SUCCESSFUL, result.enqueued_at)
    ]


def test_task_finished_is_sent_once_per_finished_task(finished: list[Any]) -> None:
    results = [tasks.add.enqueue(i, i) for i in range(5)]
    run_burst({"default": 3})
    assert sorted(r.id for _, r in finished) == sorted(r.id for r in results)
    assert {r.return_value for _, r in finished} == {0, 2, 4, 6, 8}


@pytest.mark.skipif(find_spec("django_tasks") is None, reason="needs the django-tasks backport")
def test_the_backports_signals_fire_for_a_task_the_backport_made() -> None:
    from django_tasks import signals as backport

    from tests.testapp import backport_tasks

    seen: list[str] = []

    def on_enqueued(sender: Any, task_result: Any, **kwargs: Any) -> None:
        seen.append(f"enqueued {task_result.status}")

    def on_started(sender: Any, task_result: Any, **kwargs: Any) -> None:
        seen.append(f"started {task_result.status}")

    def on_finished(sender: Any, task_result: Any, **kwargs: Any) -> None:
        seen.append(f"finished {task_result.status}")

    backport.task_enqueued.connect(on_enqueued, dispatch_uid="contract-backport-enqueued")
    backport.task_started.connect(on_started, dispatch_uid="contract-backport-started")
    backport.task_finished.connect(on_finished, dispatch_uid="contract-backport-finished")
    try:
        result = backport_tasks.double.enqueue(21)
        run_burst({"default": 1})
    finally:
        backport.task_enqueued.disconnect(dispatch_uid="contract-backport-enqueued")
        backport.task_started.disconnect(dispatch_uid="contract-backport-started")
        backport.task_finished.disconnect(dispatch_uid="contract-backport-finished")
    assert seen == ["enqueued READY", "started RUNNING", "finished SUCCESSFUL"]
    assert default_task_backend.get_result(result.id).return_value == 42


# -- priorities -----------------------------------------------------------------


def test_a_higher_django_priority_runs_first_even_within_one_djobs_band() -> None:
    # 2 and 10 share djobs' band 3 (1..25); Django says 10 runs first.
    first = tasks.add.using(priority=2).enqueue(0, 2)
    second = tasks.add.using(priority=10).enqueue(0, 10)
    third = tasks.add.using(priority=25).enqueue(0, 25)
    run_burst({"default": 1})
    order = Job.objects.filter(pk__in=[first.id, second.id, third.id]).order_by("finished_at")
    assert [job.result for job in order] == [25, 10, 2]


def test_negative_priorities_keep_djangos_order_too() -> None:
    low = tasks.add.using(priority=-20).enqueue(0, -20)
    lower = tasks.add.using(priority=-1).enqueue(0, -1)
    run_burst({"default": 1})
    order = Job.objects.filter(pk__in=[low.id, lower.id]).order_by("finished_at")
    assert [job.result for job in order] == [-1, -20]


# -- run_after ------------------------------------------------------------------


@override_settings(USE_TZ=False)
def test_a_naive_run_after_is_accepted_when_use_tz_is_false() -> None:
    when = datetime.now() + timedelta(hours=1)
    result = tasks.add.using(run_after=when).enqueue(1, 2)
    assert result.status == TaskResultStatus.READY
    assert Job.objects.get(pk=result.id).state == Job.State.SCHEDULED
    assert default_task_backend.get_result(result.id).task.run_after == when


def test_an_aware_run_after_waits_until_then() -> None:
    result = tasks.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 2)
    run_burst({"default": 1})
    result.refresh()
    assert result.status == TaskResultStatus.READY


# -- queues and transactions ---------------------------------------------------


def test_a_queue_the_backend_does_not_list_is_refused() -> None:
    with pytest.raises(InvalidTask):
        tasks.add.using(queue_name="nowhere").enqueue(1, 2)


def test_a_task_enqueued_in_a_rolled_back_transaction_does_not_exist() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.add.enqueue(1, 2)
        raise RuntimeError("roll back")
    assert not Job.objects.filter(path="tests.testapp.tasks.add").exists()


# -- resolving tasks in the worker ----------------------------------------------


@pytest.mark.slow
def test_a_worker_runs_tasks_of_modules_nothing_imports_and_of_other_backends(
    contract_tasks: Any, processes: list[RunJobs]
) -> None:
    lazy = contract_tasks.lazy_add.enqueue(1, 2)
    other = contract_tasks.other_backend_add.using(backend="default").enqueue(3, 4)
    worker = burst_worker()
    processes.append(worker)
    assert worker.wait(60) == 0, worker.output()
    for result in (lazy, other):
        result.refresh()
    assert [(r.status, r.return_value) for r in (lazy, other)] == [
        (TaskResultStatus.SUCCESSFUL, 3),
        (TaskResultStatus.SUCCESSFUL, 7),
    ], worker.output()
    assert other.task.backend == "default"


@override_settings(DJOBS={"TASK_MODULES": []})
def test_a_task_outside_installed_apps_is_refused_at_enqueue_naming_the_module_and_the_fix() -> None:
    with pytest.raises(InvalidTask, match=r"'tests\.tasks_outside_apps'.*DJOBS\['TASK_MODULES'\]"):
        tasks_outside_apps.outside.enqueue()


@override_settings(DJOBS={"DEFAULT_MAX_ATTEMPTS": 1})
def test_a_task_path_that_is_no_task_fails_with_a_message_for_django_tasks_users(
    contract_tasks: Any,
) -> None:
    result = contract_tasks.lazy_add.enqueue(1, 1)
    Job.objects.filter(pk=result.id).update(path="tests.testapp.contract_tasks.not_a_task")
    run_burst({"default": 1})
    job = Job.objects.get(pk=result.id)
    assert job.state == Job.State.DISCARDED
    message = job.errors[-1]["error"]
    assert "not a django.tasks Task" in message and "@djobs.job" not in message


# -- options for tasks one cannot decorate ------------------------------------


@override_settings(TASKS={"default": {**JOBS, "OPTIONS": {"max_attempts": 1}}})
def test_the_backends_options_are_the_defaults_of_its_tasks() -> None:
    result = tasks.fail.enqueue("once")
    run_burst({"default": 1})
    result.refresh()
    assert (result.status, result.attempts) == (TaskResultStatus.FAILED, 1)


@override_settings(
    DJOBS={
        "TASK_OPTIONS": {
            "tests.testapp.*": {"max_attempts": 3, "priority": -50},
            "tests.testapp.tasks.add": {"priority": 60, "unique": {"keys": ["a", "b"]}},
        }
    }
)
def test_task_options_override_by_pattern_the_exact_path_winning() -> None:
    first = tasks.add.enqueue(1, 2)
    again = tasks.add.enqueue(1, 2)
    other = tasks.fail.enqueue("x")
    assert again.id == first.id  # unique by (a, b)
    rows = {job.path: job for job in Job.objects.all()}
    assert rows["tests.testapp.tasks.add"].max_attempts == 3
    assert first.task.priority == 60
    assert default_task_backend.get_result(other.id).task.priority == -50


def test_bad_task_options_are_system_check_errors() -> None:
    from djobs.checks import check_settings

    with override_settings(DJOBS={"TASK_OPTIONS": {"wagtail.*": {"max_attempt": 1, "priority": 500}}}):
        messages = check_settings()
    assert {m.id for m in messages} == {"djobs.E020"}
    text = " ".join(m.msg for m in messages)
    assert "unknown option 'max_attempt'" in text and "-100 to 100" in text


def test_bad_backend_options_are_system_check_errors() -> None:
    backend = JobsBackend("default", {**JOBS, "OPTIONS": {"max_attempts": 0, "colour": "red"}})
    errors = [m for m in backend.check() if m.id == "djobs.tasks.E002"]
    assert len(errors) == 2


# -- SQLite with threads --------------------------------------------------------


def _sqlite(options: dict[str, Any]) -> dict[str, Any]:
    return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "x.sqlite3", "OPTIONS": options}}


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_sqlite_without_wal_and_immediate_transactions_warns_when_runjobs_runs_threads() -> None:
    with override_settings(DATABASES=_sqlite({}), DJOBS={"QUEUES": {"default": 4}}):
        [warning] = check_sqlite_threads()
    assert warning.id == "djobs.W001"
    assert "journal_mode=WAL" in warning.msg and '"transaction_mode": "IMMEDIATE"' in warning.msg


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_sqlite_with_wal_and_immediate_transactions_or_one_thread_does_not_warn() -> None:
    safe = {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    with override_settings(DATABASES=_sqlite(safe), DJOBS={"QUEUES": {"default": 4}}):
        assert check_sqlite_threads() == []
    with override_settings(DATABASES=_sqlite({}), DJOBS={"QUEUES": {"default": 1}}):
        assert check_sqlite_threads() == []


# -- rescue and cancel -----------------------------------------------------------


@pytest.mark.slow
@override_settings(DJOBS={"TASK_OPTIONS": {"tests.testapp.contract_tasks.sleeps": {"max_attempts": 1}}})
def test_a_task_whose_worker_was_killed_fails_with_worker_lost_keeping_its_worker_id(
    contract_tasks: Any, processes: list[RunJobs], finished: list[Any]
) -> None:
    result = contract_tasks.sleeps.enqueue(30)
    assert Job.objects.get(pk=result.id).max_attempts == 1
    worker = RunJobs("--queue", "default=1", DJANGO_SETTINGS_MODULE=WORKER, DJOBS_HEARTBEAT_INTERVAL="0.2")
    processes.append(worker)
    wait_until(
        lambda: Job.objects.filter(pk=result.id, attempted_at__isnull=False).exists(),
        what="the task to start",
    )
    worker_id = Job.objects.get(pk=result.id).worker_id
    worker.signal(signal.SIGKILL)
    worker.wait(5)
    rescuer = Rescuer(RescuerConfig(rescue_after=0.5))
    wait_until(lambda: rescuer.run_once().counts["discarded"] == 1, timeout=10, what="the rescue")
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[-1].exception_class is WorkerLost
    assert result.worker_ids == [worker_id]
    # Sent once, by the process that failed it (this one, the rescuer's).
    assert [(status, r.id) for status, r in finished] == [(TaskResultStatus.FAILED, result.id)]


def test_a_task_cancelled_by_an_operator_fails_with_job_cancelled_and_finishes_once(
    finished: list[Any],
) -> None:
    result = tasks.add.enqueue(1, 2)
    assert operations.cancel(Job.objects.filter(pk=result.id)) == 1
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[-1].exception_class is JobCancelled
    assert [(status, r.id) for status, r in finished] == [(TaskResultStatus.FAILED, result.id)]
    run_burst({"default": 1})
    assert len(finished) == 1


def test_a_running_task_cancelled_keeps_its_worker_id(finished: list[Any]) -> None:
    result = tasks.add.enqueue(1, 2)
    Job.objects.filter(pk=result.id).update(
        state=Job.State.EXECUTING, attempt=1, worker_id="w-1", attempted_at=timezone.now()
    )
    operations.cancel(Job.objects.filter(pk=result.id))
    result.refresh()
    assert result.worker_ids == ["w-1"]
    assert result.errors[-1].exception_class_path == "djobs.exceptions.JobCancelled"
    assert len(finished) == 1


def test_a_task_cancelled_with_the_jobs_command_sends_task_finished(finished: list[Any]) -> None:
    result = tasks.add.enqueue(1, 2)
    call_command("jobs", "cancel", "--id", result.id, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert [(status, r.id) for status, r in finished] == [(TaskResultStatus.FAILED, result.id)]


@pytest.mark.slow
def test_a_running_task_cancelled_finishes_once_from_the_canceller_and_never_from_its_worker(
    contract_tasks: Any, processes: list[RunJobs]
) -> None:
    import os

    from tests.testapp.models import Marker

    result = contract_tasks.runs_until_cancelled.enqueue(1.5)
    worker = burst_worker("default=1")
    processes.append(worker)
    wait_until(lambda: Marker.objects.filter(name="started").exists(), what="the task to start")
    assert operations.cancel(Job.objects.filter(pk=result.id)) == 1
    assert worker.wait(30) == 0, worker.output()  # the task ran to its end; its outcome is fenced out
    finishes = list(Marker.objects.filter(job_id=int(result.id)).values_list("name", flat=True))
    assert finishes == [f"finished FAILED in {os.getpid()}"], worker.output()
    result.refresh()
    assert result.errors[-1].exception_class is JobCancelled
