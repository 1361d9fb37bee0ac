"""Async jobs from sync code: definitions refused, the testing helpers, periodic schedules, django.tasks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from djobs import JobDefinitionError, job, registry
from djobs.decorators import JobFunction
from djobs.maintenance.scheduler import PeriodicScheduler, SchedulerConfig
from djobs.models import Job
from djobs.testing import assert_enqueued, drain_queue, perform_job, testing_mode
from djobs.worker.runner import run_burst
from tests.factories import PeriodicScheduleFactory
from tests.testapp import async_jobs

pytestmark = pytest.mark.django_db


async def _agen() -> Any:
    yield 1


def _gen() -> Any:
    yield 1


async def _no_context() -> None:
    return None


def returns_a_coroutine() -> Any:
    return async_jobs.add.func(1, 2)


def test_an_async_def_is_registered_as_an_async_job() -> None:
    assert async_jobs.add.is_async
    assert not async_jobs.sync_add.is_async
    assert registry.lookup("tests.testapp.async_jobs.add") is async_jobs.add


@pytest.mark.parametrize(
    ("func", "options", "message"),
    [
        (_agen, {}, "cannot run the async generator"),
        (_gen, {}, "cannot run the generator"),
        (_no_context, {"takes_context": True}, "must take the JobContext as its first positional parameter"),
    ],
)
def test_registration_refuses_what_a_worker_could_not_run(
    func: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(JobDefinitionError, match=message):
        job(**options)(func)
    assert not registry.is_registered(f"{func.__module__}.{func.__qualname__}")


def test_a_sync_job_returning_a_coroutine_fails_instead_of_completing_unrun() -> None:
    entry = JobFunction(returns_a_coroutine)
    try:
        result = perform_job(entry)
    finally:
        registry.unregister(entry.path)
    assert result.failed and result.state == "retryable"
    assert "declare the job function with async def" in (result.error or "")


def test_perform_job_runs_an_async_job_from_a_sync_test() -> None:
    result = perform_job(async_jobs.add, [2, 40])
    assert result.completed and result.value == 42
    assert perform_job(async_jobs.returns_cancel, ["stop"]).cancelled
    assert perform_job(async_jobs.context_info, attempt=2, max_attempts=3).value == {
        "attempt": 2,
        "max": 3,
        "batch": None,
    }


def test_drain_queue_runs_async_jobs_and_the_jobs_they_aenqueue() -> None:
    async_jobs.enqueues_another.enqueue(5)
    assert drain_queue("aio") == {"completed": 2}
    assert Job.objects.get(path="tests.testapp.async_jobs.add").result == 10


def test_assertions_see_async_jobs_like_any_other() -> None:
    async_jobs.add.enqueue(1, b=2)
    assert_enqueued(job=async_jobs.add, kwargs={"a": 1, "b": 2}, queue="aio")


def test_inline_mode_runs_an_async_job_at_enqueue() -> None:
    with testing_mode("inline"):
        job = async_jobs.add.enqueue(3, 4)
    assert (job.state, job.result) == ("completed", 7)


@pytest.mark.django_db(transaction=True)  # a worker runs it, on its own connections
def test_a_periodic_schedule_naming_an_async_job_enqueues_it_and_it_runs() -> None:
    PeriodicScheduleFactory(
        name="async-tick",
        cron="0 9 * * *",
        timezone="UTC",
        path="tests.testapp.async_jobs.add",
        args=[20, 1],
        next_run_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
    )
    PeriodicScheduler(SchedulerConfig(sync_on_start=False)).run_once(
        now=datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    )
    [tick] = Job.objects.filter(meta__periodic="async-tick")
    assert tick.queue == "aio"
    run_burst({"aio": 2})
    tick.refresh_from_db()
    assert (tick.state, tick.result) == ("completed", 21)


def test_an_async_job_adds_to_its_batch_which_waits_for_the_added_jobs() -> None:
    from djobs.batches import batch

    with batch(on_complete=async_jobs.report) as b:
        async_jobs.grows_batch.enqueue(2)
    assert drain_queue("aio") == {"completed": 4}
    report = Job.objects.get(path="tests.testapp.async_jobs.report")
    assert report.result["counts"]["completed"] == 3
    assert sorted(Job.objects.filter(meta__batch_id=b.key).values_list("result", flat=True)) == [0, 1, 2]
