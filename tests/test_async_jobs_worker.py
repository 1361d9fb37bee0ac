"""Async jobs under the dispatcher (in-process burst worker): the body runs once, every outcome."""

from __future__ import annotations

import pytest
from django.utils import timezone

from djobs.models import Job
from djobs.worker.runner import run_burst
from tests.testapp import async_jobs
from tests.testapp.models import JobRun

pytestmark = pytest.mark.django_db(transaction=True)


def refresh(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


def test_an_async_jobs_body_runs_once_and_its_result_is_stored() -> None:
    job = async_jobs.runs_once.enqueue("once")
    run_burst({"aio": 4})
    job = refresh(job)
    assert job.state == "completed"
    assert job.result == 1
    assert job.attempt == 1
    assert list(JobRun.objects.values_list("job_id", "worker")) == [(job.id, "once")]


def test_an_async_jobs_return_value_is_its_result() -> None:
    jobs = async_jobs.add.enqueue_many([(i, i) for i in range(20)])
    run_burst({"aio": 5})
    assert sorted(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("result", flat=True)) == sorted(
        2 * i for i in range(20)
    )


@pytest.mark.parametrize(
    ("function", "state"),
    [
        (async_jobs.returns_snooze, "scheduled"),
        (async_jobs.raises_snooze, "scheduled"),
    ],
)
def test_a_snooze_returned_or_raised_schedules_the_job_again_without_using_an_attempt(
    function: object, state: str
) -> None:
    before = timezone.now()
    job = function.enqueue(60)  # type: ignore[attr-defined]
    run_burst({"aio": 1})
    job = refresh(job)
    assert job.state == state
    assert job.scheduled_at >= before + timezone.timedelta(seconds=59)
    assert job.errors == []


@pytest.mark.parametrize(
    ("function", "state"),
    [
        (async_jobs.raises_cancel, "cancelled"),
        (async_jobs.returns_cancel, "cancelled"),
        (async_jobs.raises_discard, "discarded"),
        (async_jobs.returns_discard, "discarded"),
    ],
)
def test_cancel_and_discard_returned_or_raised_end_the_job_with_the_reason(
    function: object, state: str
) -> None:
    job = function.enqueue("no longer wanted")  # type: ignore[attr-defined]
    run_burst({"aio": 1})
    job = refresh(job)
    assert job.state == state
    assert job.attempt == 1
    assert "no longer wanted" in job.errors[-1]["error"]


def test_an_exception_is_recorded_with_its_traceback_and_retried_until_discarded() -> None:
    job = async_jobs.fails.enqueue("remote said no")
    run_burst({"aio": 1})
    job = refresh(job)
    assert job.state == "discarded"
    assert job.attempt == 2
    assert [e["error"] for e in job.errors] == ["ValueError: remote said no"] * 2
    assert "Traceback" in job.errors[0]["traceback"]
    assert "in fails" in job.errors[0]["traceback"]


def test_a_failed_attempt_is_retried_with_backoff_and_then_completes() -> None:
    job = async_jobs.fails_then_works.enqueue("ftw")
    run_burst({"aio": 1})
    job = refresh(job)
    assert job.state == "completed"
    assert job.attempt == 2
    assert job.result == 2
    assert [e["error"] for e in job.errors] == ["RuntimeError: first attempt fails"]


def test_an_async_job_with_takes_context_gets_its_row() -> None:
    job = async_jobs.context_info.using(max_attempts=4).enqueue()
    run_burst({"aio": 1})
    assert refresh(job).result == {"attempt": 1, "max": 4, "batch": None}


def test_a_queue_runs_sync_and_async_jobs_side_by_side() -> None:
    sync = async_jobs.sync_add.using(queue="aio").enqueue_many([(i, 1) for i in range(10)])
    aio = async_jobs.add.enqueue_many([(i, 2) for i in range(10)])
    run_burst({"aio": 3})
    results = dict(Job.objects.values_list("id", "result"))
    assert [results[j.id] for j in sync] == [i + 1 for i in range(10)]
    assert [results[j.id] for j in aio] == [i + 2 for i in range(10)]


def test_an_async_job_enqueues_another_with_aenqueue() -> None:
    job = async_jobs.enqueues_another.enqueue(21)
    run_burst({"aio": 2})
    child = Job.objects.get(pk=refresh(job).result)
    assert (child.path, child.state, child.result) == ("tests.testapp.async_jobs.add", "completed", 42)


def test_a_unique_async_job_is_enqueued_once_and_runs_once() -> None:
    first = async_jobs.unique_work.enqueue("k")
    second = async_jobs.unique_work.enqueue("k")
    assert second.duplicate and second.id == first.id
    run_burst({"aio": 2})
    assert refresh(first).state == "completed"
    assert Job.objects.filter(path="tests.testapp.async_jobs.unique_work").count() == 1


def test_async_jobs_run_on_the_queues_event_loop_thread_not_in_a_job_thread() -> None:
    job = async_jobs.thread_name.enqueue()
    run_burst({"aio": 2})
    assert refresh(job).result == "djobs-aio-loop"


def test_a_django_tasks_async_task_is_an_async_job_whose_started_receivers_may_query() -> None:
    api = pytest.importorskip("djobs.tasks_compat.api")
    from djobs import registry
    from tests.testapp import tasks

    seen: list[int] = []

    def receiver(sender: object, task_result: object, **kwargs: object) -> None:
        seen.append(Job.objects.filter(state="executing").count())  # a query: never on the loop

    api.task_started.connect(receiver)
    try:
        result = tasks.async_add.enqueue(20, 22)
        assert registry.lookup(tasks.async_add.module_path).is_async
        run_burst({"default": 1})
    finally:
        api.task_started.disconnect(receiver)
    result.refresh()
    assert (result.status, result.return_value) == (api.TaskResultStatus.SUCCESSFUL, 42)
    assert seen == [1]


def test_context_variables_set_by_one_async_job_never_reach_the_next() -> None:
    jobs = async_jobs.sets_a_context_variable.enqueue_many([("first",), ("second",), ("third",)])
    run_burst({"aio": 1})
    assert [refresh(job).result for job in jobs] == ["unset"] * 3
