"""djobs as a django.tasks backend: enqueue, defer, priority, async enqueue, options, checks.

Skipped as a whole where django.tasks does not exist (Django 5.2 without the backport).
"""

from __future__ import annotations

import pickle
from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("djobs.backends", reason="django.tasks needs Django 6.0+ or the django-tasks backport")

from asgiref.sync import async_to_sync
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from djobs import registry
from djobs.backends import TASK_OPTIONS_SUPPORTED, JobsBackend, JobsTask
from djobs.enqueue import ambient_meta
from djobs.models import Job
from djobs.tasks_compat.api import (
    InvalidTask,
    Task,
    TaskResultStatus,
    default_task_backend,
    task,
    task_backends,
    task_enqueued,
)
from djobs.tasks_compat.discovery import uses_jobs_backend
from djobs.tasks_compat.priority import DEFAULT_JOB_PRIORITY, job_priority, task_priority_range
from tests.testapp import tasks

S = Job.State


def row(result: Any) -> Job:
    return Job.objects.get(pk=int(result.id))


# -- priority mapping (pure) ---------------------------------------------------


@pytest.mark.parametrize(
    ("task_priority", "expected"),
    [
        (100, 0),
        (76, 0),
        (75, 1),
        (51, 1),
        (50, 2),
        (26, 2),
        (25, 3),
        (1, 3),
        (0, 4),
        (-1, 5),
        (-20, 5),
        (-21, 6),
        (-40, 6),
        (-41, 7),
        (-60, 7),
        (-61, 8),
        (-80, 8),
        (-81, 9),
        (-100, 9),
    ],
)
def test_task_priority_maps_onto_the_documented_djobs_band(task_priority: int, expected: int) -> None:
    assert job_priority(task_priority) == expected


def test_a_higher_task_priority_never_maps_to_a_later_djobs_priority() -> None:
    mapped = [job_priority(p) for p in range(-100, 101)]
    assert mapped == sorted(mapped, reverse=True)
    assert set(mapped) == set(range(10))


def test_the_default_task_priority_alone_maps_to_the_middle_band() -> None:
    assert task_priority_range(DEFAULT_JOB_PRIORITY) == (0, 0)
    assert task_priority_range(0) == (76, 100)
    assert task_priority_range(9) == (-100, -81)


@pytest.mark.parametrize("bad", [101, -101, 1.5, True, "1"])
def test_priority_outside_djangos_range_is_refused_with_the_value(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="priority"):
        job_priority(bad)


# -- enqueue ------------------------------------------------------------------


@pytest.mark.django_db
def test_enqueue_inserts_a_job_at_the_tasks_module_path() -> None:
    result = tasks.add.enqueue(1, 2)
    job = row(result)
    assert job.path == "tests.testapp.tasks.add"
    assert (job.args, job.kwargs, job.queue, job.state) == ([1, 2], {}, "default", S.AVAILABLE)
    assert job.priority == DEFAULT_JOB_PRIORITY
    assert result.id == str(job.pk)
    assert result.status == TaskResultStatus.READY
    assert result.enqueued_at == job.inserted_at
    assert (result.backend, result.args, result.kwargs, result.attempts) == ("default", [1, 2], {}, 0)
    assert result.task is tasks.add


def test_backend_declares_what_it_supports() -> None:
    backend = task_backends["default"]
    assert isinstance(backend, JobsBackend)
    assert backend.supports_defer and backend.supports_priority and backend.supports_get_result
    assert backend.supports_async_task
    assert backend.task_class is JobsTask


@pytest.mark.django_db
def test_enqueue_keeps_queue_and_maps_priority_of_the_decorator() -> None:
    job = row(tasks.send_email.enqueue("a@example.com", subject="hi"))
    assert (job.queue, job.priority, job.kwargs) == ("emails", 2, {"subject": "hi"})
    assert job.meta["django_task"] == {"backend": "default", "priority": 50}


@pytest.mark.django_db
def test_using_priority_is_mapped_and_read_back_exactly() -> None:
    result = tasks.add.using(priority=-100).enqueue(1, 1)
    assert row(result).priority == 9
    assert default_task_backend.get_result(result.id).task.priority == -100


@pytest.mark.django_db(transaction=True)
def test_enqueue_in_a_rolled_back_transaction_leaves_no_job() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        result = tasks.add.enqueue(1, 2)
        assert Job.objects.filter(pk=result.id).exists()
        raise RuntimeError("roll back")
    assert not Job.objects.filter(path="tests.testapp.tasks.add").exists()


@pytest.mark.django_db
def test_enqueue_joins_the_ambient_batch_meta() -> None:
    token = ambient_meta.set({"batch_id": "b-1"})
    try:
        job = row(tasks.add.enqueue(1, 2))
    finally:
        ambient_meta.reset(token)
    assert job.meta["batch_id"] == "b-1"
    assert job.batch_id == "b-1"


@pytest.mark.django_db
def test_arguments_are_normalised_as_django_tasks_does() -> None:
    job = row(tasks.add.enqueue((1, 2), b"3"))
    assert job.args == [[1, 2], "3"]


@pytest.mark.django_db
def test_an_argument_json_cannot_keep_is_refused_by_name_and_nothing_is_written() -> None:
    with pytest.raises(TypeError, match=r"args\[1\]"):
        tasks.add.enqueue(1, timezone.now())
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_a_queue_the_backend_does_not_list_is_refused() -> None:
    with pytest.raises(InvalidTask, match="nope"):
        tasks.add.using(queue_name="nope").enqueue(1, 2)


# -- defer --------------------------------------------------------------------


@pytest.mark.django_db
def test_run_after_schedules_the_job_and_is_read_back() -> None:
    when = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    result = tasks.add.using(run_after=when).enqueue(1, 2)
    job = row(result)
    assert (job.state, job.scheduled_at) == (S.SCHEDULED, when)
    assert result.status == TaskResultStatus.READY
    assert default_task_backend.get_result(result.id).task.run_after == when


def test_a_naive_run_after_is_refused() -> None:
    with pytest.raises(InvalidTask, match="aware"):
        tasks.add.using(run_after=timezone.now().replace(tzinfo=None))


# -- async --------------------------------------------------------------------


@pytest.mark.django_db
def test_aenqueue_inserts_a_job_and_aget_result_reads_it() -> None:
    async def scenario() -> tuple[Any, Any]:
        result = await tasks.add.aenqueue(4, 5)
        return result, await tasks.add.aget_result(result.id)

    enqueued, fetched = async_to_sync(scenario)()
    assert row(enqueued).args == [4, 5]
    assert (fetched.id, fetched.status, fetched.args) == (enqueued.id, TaskResultStatus.READY, [4, 5])


# -- djobs options ------------------------------------------------------------

needs_options = pytest.mark.skipif(not TASK_OPTIONS_SUPPORTED, reason="@task(**options) needs Django 6.1+")


@needs_options
@pytest.mark.django_db
def test_task_options_set_max_attempts_tags_and_timeout() -> None:
    job = row(tasks.charge.enqueue(7))
    assert (job.max_attempts, job.tags) == (2, ["billing"])
    assert registry.lookup("tests.testapp.tasks.charge").timeout == 30.0


@needs_options
@pytest.mark.django_db
def test_a_unique_task_returns_the_existing_job_for_a_duplicate() -> None:
    first = tasks.sync_profile.enqueue(1)
    again = tasks.sync_profile.enqueue(1, full=True)
    other = tasks.sync_profile.enqueue(2)
    assert again.id == first.id
    assert other.id != first.id
    assert Job.objects.filter(path="tests.testapp.tasks.sync_profile").count() == 2


@needs_options
@pytest.mark.django_db
def test_a_duplicate_of_a_unique_task_sends_no_task_enqueued() -> None:
    sent: list[str] = []

    def on_enqueued(sender: Any, task_result: Any, **kwargs: Any) -> None:
        sent.append(task_result.id)

    task_enqueued.connect(on_enqueued, dispatch_uid="test-enqueued")
    try:
        first = tasks.sync_profile.enqueue(5)
        tasks.sync_profile.enqueue(5)
    finally:
        task_enqueued.disconnect(dispatch_uid="test-enqueued")
    assert sent == [first.id]


@needs_options
@pytest.mark.skipif(not hasattr(Task, "_reconstruct"), reason="Tasks pickle by path from Django 6.1")
def test_a_task_with_options_survives_pickling() -> None:
    assert pickle.loads(pickle.dumps(tasks.charge)) == tasks.charge


@pytest.mark.skipif(TASK_OPTIONS_SUPPORTED, reason="Django 6.1+ forwards options")
def test_before_django_6_1_task_options_are_refused_by_django() -> None:
    with pytest.raises(TypeError):
        task(max_attempts=3)(spare_function)  # type: ignore[call-overload]


def spare_function(x: int) -> int:
    return x


def make_task(func: Any, **options: Any) -> JobsTask:
    # Every field spelled out: Django 6.0's Task fields have no defaults.
    defaults = {"priority": 0, "backend": "default", "queue_name": "default", "run_after": None}
    return JobsTask(func=func, takes_context=False, **defaults, **options)


@pytest.mark.django_db
def test_a_bad_option_is_refused_when_the_task_is_defined() -> None:
    registry.unregister(f"{__name__}.spare_function")
    try:
        with pytest.raises(InvalidTask, match="max_attempts=0"):
            make_task(spare_function, max_attempts=0)
    finally:
        registry.unregister(f"{__name__}.spare_function")


def test_a_task_cannot_take_the_path_of_a_job() -> None:
    from tests.testapp import jobs

    with pytest.raises(InvalidTask, match="already a @job"):
        make_task(jobs.add.func)


# -- checks and discovery -----------------------------------------------------


def backend_for(**params: Any) -> JobsBackend:
    return JobsBackend("check", {"BACKEND": "djobs.backends.JobsBackend", **params})


def test_a_backend_serving_djobs_queues_has_no_check_messages() -> None:
    assert backend_for(QUEUES=["default", "emails"]).check() == []


def test_check_warns_about_a_queue_runjobs_does_not_serve() -> None:
    [message] = backend_for(QUEUES=["default", "reports"]).check()
    assert message.id == "djobs.tasks.W001"
    assert "'reports'" in message.msg and "runjobs --queue reports=N" in message.hint


def test_check_refuses_options() -> None:
    [message] = backend_for(OPTIONS={"retries": 3}).check()
    assert message.id == "djobs.tasks.E002"
    assert "retries" in message.msg


def test_check_needs_djobs_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    from djobs import backends

    monkeypatch.setattr(backends.apps, "is_installed", lambda name: name != "djobs")
    assert [m.id for m in backend_for().check()] == ["djobs.tasks.E001"]


@pytest.mark.django_db  # model checks ask SQLite about JSON support
def test_djangos_check_framework_reports_the_backends_messages() -> None:
    from django.core import checks

    tasks_setting = {"default": {"BACKEND": "djobs.backends.JobsBackend", "QUEUES": ["default", "reports"]}}
    with override_settings(TASKS=tasks_setting):
        assert "djobs.tasks.W001" in [m.id for m in checks.run_checks()]


def test_tasks_modules_are_discovered_only_when_a_djobs_backend_is_configured() -> None:
    assert uses_jobs_backend()
    package = task.__module__.rsplit(".", 1)[0]  # django.tasks, or the backport's django_tasks
    immediate = {"default": {"BACKEND": f"{package}.backends.immediate.ImmediateBackend"}}
    with override_settings(TASKS=immediate):
        assert not uses_jobs_backend()
    assert registry.is_registered("tests.testapp.tasks.add")
