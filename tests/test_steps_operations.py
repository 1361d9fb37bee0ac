"""Saved progress for operators: the admin page, `jobs progress`, retry resuming or restarting, pruning."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from djobs import operations
from djobs.durable.models import JobProgress
from djobs.maintenance.pruner import Pruner, PrunerConfig
from djobs.models import Job
from djobs.testing import drain_queue, interrupt_job
from tests.testapp import durable_jobs as dj
from tests.testapp.models import Marker, Row

pytestmark = pytest.mark.django_db


def failed_after_a_step() -> Job:
    """A three_steps job that failed on step two and was then discarded, with step one saved."""
    job = dj.three_steps.using(max_attempts=1).enqueue()
    assert drain_queue() == {"exhausted": 1}
    job.refresh_from_db()
    assert job.state == "discarded"
    return job


def ran(job: Job, name: str) -> int:
    return Marker.objects.filter(job_id=job.pk, name=name).count()


def test_a_plain_retry_resumes_from_the_saved_steps() -> None:
    job = failed_after_a_step()
    assert operations.retry([job.pk]) == 1
    assert drain_queue() == {"completed": 1}
    assert ran(job, "one") == 1


def test_a_retry_with_restart_deletes_the_progress_and_runs_every_step_again() -> None:
    job = failed_after_a_step()
    other = failed_after_a_step()
    assert operations.retry([job.pk], restart=True) == 1
    assert not JobProgress.objects.filter(job_id=job.pk).exists()
    assert JobProgress.objects.filter(job_id=other.pk).exists()
    assert drain_queue() == {"completed": 1}
    assert ran(job, "one") == 2


def test_a_retry_of_a_completed_job_runs_it_again_from_the_start() -> None:
    waiting = failed_after_a_step()
    Row.objects.bulk_create([Row(n=i) for i in range(3)])
    job = dj.visit_rows.enqueue()
    assert drain_queue() == {"completed": 1}
    Row.objects.bulk_create([Row(n=i) for i in range(2)])
    assert operations.retry([job.pk, waiting.pk]) == 2
    assert not JobProgress.objects.filter(job_id=job.pk).exists()
    assert JobProgress.objects.filter(job_id=waiting.pk).exists()  # a failed job still resumes
    assert drain_queue() == {"completed": 2}
    job.refresh_from_db()
    assert job.result == 5
    assert ran(waiting, "one") == 1


def test_the_admin_job_page_shows_steps_cursor_items_and_interruptions(admin_user: User) -> None:
    Row.objects.bulk_create([Row(n=i) for i in range(5)])
    job = dj.step_then_rows.enqueue()
    with interrupt_job(after_items=2):
        assert drain_queue(with_recursion=False) == {"interrupted": 1}
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("admin:djobs_job_change", args=[job.pk])).content.decode()
    assert "<th>Interruptions</th><td>1</td>" in page
    assert "<th>Step count</th><td>done: <code>5</code></td>" in page
    cursor = JobProgress.objects.get(job_id=job.pk).iterations["rows"]["cursor"]
    assert f"<th>Each rows</th><td>2 items, at cursor <code>{cursor}</code></td>" in page


def test_the_admin_offers_a_retry_from_the_start_only_for_jobs_with_progress(admin_user: User) -> None:
    with_progress = failed_after_a_step()
    without = dj.step_twice.using(max_attempts=1).enqueue()
    Job.objects.filter(pk=without.pk).update(state="discarded")
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("admin:djobs_job_change", args=[with_progress.pk])).content.decode()
    assert 'id="djobs-op-restart"' in page and 'id="djobs-op-retry"' in page
    plain = client.get(reverse("admin:djobs_job_change", args=[without.pk])).content.decode()
    assert 'id="djobs-op-restart"' not in plain and 'id="djobs-op-retry"' in plain
    url = reverse("admin:djobs_job_operate", args=[with_progress.pk])
    client.post(url, {"operation": "restart"})
    assert Job.objects.get(pk=with_progress.pk).state == "available"
    assert not JobProgress.objects.filter(job_id=with_progress.pk).exists()


def test_the_admin_list_action_retries_from_the_start(admin_user: User) -> None:
    job = failed_after_a_step()
    client = Client()
    client.force_login(admin_user)
    data = {"action": "restart_jobs", "_selected_action": [str(job.pk)]}
    page = client.post(reverse("admin:djobs_job_changelist"), data, follow=True).content.decode()
    assert "Retried from the start 1 job." in page
    assert not JobProgress.objects.filter(job_id=job.pk).exists()


def test_jobs_progress_prints_the_saved_progress_and_retry_restart_clears_it() -> None:
    job = failed_after_a_step()
    out = StringIO()
    call_command("jobs", "progress", str(job.pk), "424242", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"job {job.pk}: 0 interruption(s), saved ")
    assert lines[1:] == ['  step one: done, result "one done"', "job 424242: no saved progress"]
    out = StringIO()
    call_command("jobs", "progress", str(job.pk), "--json", stdout=out)
    assert json.loads(out.getvalue())[str(job.pk)]["steps"] == [{"name": "one", "result": '"one done"'}]
    out = StringIO()
    call_command("jobs", "retry", "--id", str(job.pk), "--restart", stdout=out)
    assert out.getvalue().strip() == "Retried 1 job."
    assert not JobProgress.objects.filter(job_id=job.pk).exists()


def test_the_pruner_deletes_the_progress_of_jobs_that_are_gone() -> None:
    pruned = failed_after_a_step()
    deleted = failed_after_a_step()
    kept = failed_after_a_step()
    Job.objects.filter(pk=pruned.pk).update(finished_at=pruned.finished_at.replace(year=2000))
    assert operations.delete([deleted.pk]) == 1
    result = Pruner(PrunerConfig(retention={"discarded": 3600})).run_once()
    assert result.counts["discarded"] == 1
    assert result.counts["progress"] == 2
    assert list(JobProgress.objects.values_list("job_id", flat=True)) == [kept.pk]
