"""Async code enqueueing jobs (aenqueue, async batches, async views) and the testing helpers' async forms."""

from __future__ import annotations

from django.test import TestCase, override_settings

from djobs.exceptions import EnqueueError
from djobs.models import Batch, Job
from djobs.testing import adrain_queue, aperform_job, testing_mode
from tests.testapp import async_jobs
from tests.testapp.models import Marker


@override_settings(ROOT_URLCONF="tests.testapp.async_views")
class AsyncViewTests(TestCase):
    async def test_an_async_view_enqueues_with_aenqueue(self) -> None:
        response = await self.async_client.get("/enqueue/", {"a": 20, "b": 22})
        assert response.status_code == 200
        job = await Job.objects.aget(pk=response.json()["job"])
        assert (job.path, job.args, job.state) == ("tests.testapp.async_jobs.add", [20, 22], "available")
        assert await adrain_queue("aio") == {"completed": 1}
        await job.arefresh_from_db()
        assert job.result == 42

    async def test_an_async_view_opens_a_batch_whose_async_callback_runs_once_its_jobs_are_done(self) -> None:
        response = await self.async_client.get("/batch/")
        body = response.json()
        batch = await Batch.objects.aget(pk=body["batch"])
        assert batch.size == 3
        tagged = [job async for job in Job.objects.filter(pk__in=body["jobs"])]
        assert {job.meta["batch_id"] for job in tagged} == {body["batch"]}
        assert await adrain_queue("aio") == {"completed": 4}  # three jobs, then the callback
        report = await Job.objects.aget(path="tests.testapp.async_jobs.report")
        assert report.result == {
            "batch": body["batch"],
            "counts": {"cancelled": 0, "completed": 3, "discarded": 0},
        }
        assert await Marker.objects.filter(name=f"report:{body['batch']}").aexists()


class AsyncEnqueueTests(TestCase):
    async def test_using_options_apply_to_aenqueue(self) -> None:
        job = await async_jobs.add.using(priority=3, schedule_in=60).aenqueue(1, 2)
        assert (job.priority, job.state) == (3, "scheduled")

    async def test_a_bad_item_of_aenqueue_many_refuses_all_and_writes_nothing(self) -> None:
        with self.assertRaisesMessage(TypeError, "enqueue_many item 1"):
            await async_jobs.add.aenqueue_many([(1, 2), (object(), 2)])
        assert await Job.objects.acount() == 0

    async def test_a_bad_option_of_aenqueue_is_refused_before_anything_is_written(self) -> None:
        with self.assertRaisesMessage(EnqueueError, "priority=12"):
            await async_jobs.add.using(priority=12).aenqueue(1, 2)
        assert await Job.objects.acount() == 0

    async def test_inline_mode_runs_an_aenqueued_async_job_at_once(self) -> None:
        with testing_mode("inline"):
            job = await async_jobs.add.aenqueue(2, 3)
        assert (job.state, job.result) == ("completed", 5)

    async def test_aperform_job_awaits_an_async_job_and_says_how_it_ended(self) -> None:
        result = await aperform_job(async_jobs.add, [4, 5])
        assert result.completed and result.value == 9
        snoozed = await aperform_job(async_jobs.raises_snooze, [30])
        assert snoozed.snoozed and snoozed.state == "scheduled"
        failed = await aperform_job(async_jobs.fails, ["nope"], attempt=2)
        assert failed.exhausted and failed.discarded
        assert "ValueError: nope" in (failed.error or "")

    async def test_aperform_job_gives_an_async_job_its_async_orm_in_the_tests_transaction(self) -> None:
        await Marker.objects.acreate(name="ftw")  # a first attempt already happened
        result = await aperform_job(async_jobs.fails_then_works, ["ftw"])
        assert result.completed and result.value == 2
