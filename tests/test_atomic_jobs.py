"""Atomic jobs in a worker run in-process: the body's writes commit with the completion, or not at all."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from djobs import Workflow, batch, job
from djobs.checks import check_atomic_jobs, project_write_aliases
from djobs.exceptions import JobDefinitionError
from djobs.models import Job
from djobs.worker.runner import run_burst
from tests.testapp import atomic_jobs
from tests.testapp.models import Effect

pytestmark = pytest.mark.django_db(transaction=True)


def effects(job: Job) -> list[int]:
    return list(Effect.objects.filter(job_id=job.pk).values_list("attempt", flat=True))


def test_a_completed_atomic_job_keeps_its_writes_and_what_it_enqueued() -> None:
    job = atomic_jobs.write_and_enqueue.enqueue()
    run_burst({"atomic": 2})
    job.refresh_from_db()
    assert (job.state, job.attempt, job.result) == ("completed", 1, "written")
    assert effects(job) == [1]
    children = Job.objects.filter(path="tests.testapp.atomic_jobs.noop")
    assert [child.state for child in children] == ["completed"]


def test_an_exception_after_the_writes_rolls_them_back_and_the_job_is_retryable_with_its_error() -> None:
    job = atomic_jobs.write_enqueue_then_fail.enqueue()
    run_burst({"atomic": 1})
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("retryable", 1)
    assert job.errors[-1]["error"] == "RuntimeError: failed after writing, attempt 1"
    assert effects(job) == []
    assert not Job.objects.filter(path="tests.testapp.atomic_jobs.noop").exists()


def test_a_plain_job_writes_outside_any_job_transaction_as_before() -> None:
    job = atomic_jobs.plain_effect.enqueue(123)
    run_burst({"atomic": 1})
    job.refresh_from_db()
    assert job.state == "completed"
    assert list(Effect.objects.values_list("job_id", flat=True)) == [123]


def test_an_atomic_job_finishes_its_batch_in_its_own_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    from djobs.batches.completion import checker

    # The recorder's path (a check after the commit, in a thread) is switched off:
    # the batch can only finish in the atomic jobs' transactions.
    monkeypatch.setattr(checker, "submit", lambda seen: None)
    with batch(on_complete=atomic_jobs.batch_done) as group:
        jobs = [atomic_jobs.write_and_enqueue.enqueue() for _ in range(3)]
    run_burst({"atomic": 2})
    assert set(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("state", flat=True)) == {
        "completed"
    }
    assert group.row.state == "finished"
    assert Effect.objects.count() == 3


def test_an_atomic_step_releases_its_dependents_in_its_own_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from djobs.workflows.release import releaser

    monkeypatch.setattr(releaser, "submit", lambda ended: None)  # only the transaction can release
    flow = Workflow("atomic")
    flow.add("first", atomic_jobs.write_and_enqueue.new())
    flow.add("second", atomic_jobs.write_and_enqueue.new(), deps=["first"])
    steps = flow.enqueue()
    run_burst({"atomic": 1})
    states = Job.objects.filter(pk__in=[j.pk for j in steps.values()]).values_list("state", flat=True)
    assert list(states) == ["completed", "completed"]
    assert Effect.objects.count() == 2


def test_a_failed_atomic_step_releases_nothing_and_keeps_nothing() -> None:
    flow = Workflow("atomic-failing")
    flow.add("first", atomic_jobs.write_enqueue_then_fail.new())
    flow.add("second", atomic_jobs.write_and_enqueue.new(), deps=["first"])
    steps = flow.enqueue()
    run_burst({"atomic": 1})
    assert Job.objects.get(pk=steps["first"].pk).state == "retryable"
    assert Job.objects.get(pk=steps["second"].pk).state == "waiting"
    assert Effect.objects.count() == 0


def test_the_batch_and_workflow_hooks_are_the_ones_run_inside_the_transaction() -> None:
    from djobs.batches.completion import check_batches
    from djobs.hooks import hooks
    from djobs.workflows.release import release_now

    inside = {hook.call for hook in hooks.terminal if hook.in_transaction}
    assert inside == {check_batches, release_now}


def test_an_async_atomic_job_is_refused_at_decoration_naming_the_fix() -> None:
    with pytest.raises(JobDefinitionError, match=r"async def .*_async_body.*Declare it with def"):
        job(atomic=True, name="tests.atomic_async_refused")(_async_body)


async def _async_body() -> None: ...


def test_atomic_must_be_a_bool() -> None:
    with pytest.raises(JobDefinitionError, match=r"atomic='yes'.*True or False"):
        job(atomic="yes", name="tests.atomic_not_bool")(atomic_jobs.noop.func)


def test_the_project_models_are_written_to_djobs_database_so_no_error_is_reported() -> None:
    assert project_write_aliases() == {"default"}
    assert "djobs.E030" not in [m.id for m in check_atomic_jobs()]


def test_atomic_jobs_served_among_other_threads_on_sqlite_get_a_start_up_warning() -> None:
    from djobs.worker.atomic import sqlite_warning

    atomic = {"app.jobs.charge": "payments"}
    assert sqlite_warning(atomic, {"payments": 1}) is None
    assert sqlite_warning(atomic, {"default": 4}) is None  # not served here
    warning = sqlite_warning(atomic, {"payments": 1, "default": 3})
    assert warning is not None and "app.jobs.charge" in warning and "4 threads" in warning


def test_the_start_up_warning_knows_each_atomic_job_by_its_queue() -> None:
    from djobs.worker.atomic import atomic_queues

    queues = atomic_queues("default")
    assert queues[atomic_jobs.noop.path] == "atomic"
    assert atomic_jobs.plain_effect.path not in queues


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_atomic_jobs_with_djobs_on_another_alias_than_the_models_are_an_error(settings: object) -> None:
    settings.DATABASES = {**settings.DATABASES, "jobs": settings.DATABASES["default"]}  # type: ignore[attr-defined]
    settings.DJOBS = {**settings.DJOBS, "DATABASE": "jobs"}  # type: ignore[attr-defined]
    [error] = [m for m in check_atomic_jobs() if m.id == "djobs.E030"]
    assert "'jobs'" in error.msg and "default" in error.msg


def test_a_running_job_whose_own_attempt_committed_its_completion_is_not_stopped() -> None:
    from djobs.models import Job as JobRow
    from djobs.worker.cancels import stop_requests
    from djobs.worker.timeouts import RunningJob

    row = JobRow(id=7, path="p", attempt=2)
    running = RunningJob(row, 1, 0.0, None)
    own = {7: ("completed", "me", 2)}
    assert stop_requests([running], own, "me") == []
    [(_, request)] = stop_requests([running], {7: ("completed", "other", 3)}, "me")
    assert not request.cancelled
    [(_, request)] = stop_requests([running], {7: ("cancelled", "me", 2)}, "me")
    assert request.cancelled


def test_the_admin_list_and_page_and_jobs_status_show_that_a_job_is_atomic(admin_client: Any) -> None:
    from django.core.management import call_command

    atomic = atomic_jobs.noop.enqueue()
    plain = atomic_jobs.plain_effect.enqueue(1)
    listing = admin_client.get("/admin/djobs/job/").content.decode()
    assert listing.count("djobs-atomic") == 1
    page = admin_client.get(f"/admin/djobs/job/{atomic.pk}/change/").content.decode()
    assert "djobs-atomic" in page
    assert "djobs-atomic" not in admin_client.get(f"/admin/djobs/job/{plain.pk}/change/").content.decode()
    out = io.StringIO()
    call_command("jobs", "status", stdout=out)
    assert "Atomic jobs (" in out.getvalue() and atomic_jobs.noop.path in out.getvalue()
    out = io.StringIO()
    call_command("jobs", "status", "--path", atomic_jobs.noop.path, stdout=out)
    assert f"{atomic_jobs.noop.path} is atomic" in out.getvalue()
    out = io.StringIO()
    call_command("jobs", "status", "--json", stdout=out)
    assert atomic_jobs.noop.path in json.loads(out.getvalue())["atomic_jobs"]


def test_a_snooze_after_the_writes_rolls_them_back_and_gives_the_attempt_back() -> None:
    job = atomic_jobs.write_then_snooze.enqueue()
    run_burst({"atomic": 1})
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("scheduled", 0)
    assert effects(job) == []
