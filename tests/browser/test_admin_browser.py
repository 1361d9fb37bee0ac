"""The admin in a real browser: log in, filter, open a job, retry it and see it run, the dashboard."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from djobs.models import Job
from tests.factories import JobFactory, WorkerProcessFactory
from tests.runjobs_process import RunJobs

from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

S = Job.State
EVIL = "<script>window.__pwned = true</script>"


def log_in(page: Any, live_server: Any) -> None:
    User.objects.create_superuser("admin", "admin@example.com", "secret-pw")
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "secret-pw")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def discarded_job(**fields: Any) -> Job:
    error = {
        "attempt": 1,
        "at": timezone.now().isoformat(),
        "error": f"ValueError: {EVIL}",
        "traceback": f'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: {EVIL}',
    }
    defaults = {"state": S.DISCARDED, "attempt": 1, "max_attempts": 1, "finished_at": timezone.now(),
                "errors": [error], "path": "tests.testapp.jobs.add", "args": [2, 3]}  # fmt: skip
    return JobFactory(**{**defaults, **fields})


def test_log_in_filter_by_state_and_open_a_job(page: Any, live_server: Any) -> None:
    job = discarded_job(kwargs={"note": EVIL})
    JobFactory.create_batch(3, state=S.AVAILABLE)
    log_in(page, live_server)
    page.click("text=Jobs >> nth=0")
    page.goto(f"{live_server.url}/admin/djobs/job/")
    assert page.locator("#result_list tbody tr").count() == 4
    page.locator("#changelist-filter").get_by_role("link", name="Discarded").click()
    page.wait_for_url(re.compile(r"state__exact=discarded"))
    assert page.locator("#result_list tbody tr").count() == 1
    screenshot(page, "job-list-filtered")
    page.locator("#result_list tbody tr").first.get_by_role("link", name=str(job.pk)).click()
    page.wait_for_url(re.compile(rf"/admin/djobs/job/{job.pk}/change/"))
    assert page.locator(".djobs-traceback").first.inner_text().endswith(f"ValueError: {EVIL}")
    assert page.evaluate("window.__pwned === undefined")  # shown as text, never run
    screenshot(page, "job-detail")


def test_retry_a_discarded_job_and_see_it_run(page: Any, live_server: Any) -> None:
    job = discarded_job()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/djobs/job/{job.pk}/change/")
    page.click("#djobs-op-retry")
    page.wait_for_selector("text=Retry: job")
    assert Job.objects.get(pk=job.pk).state == S.AVAILABLE
    screenshot(page, "job-retried")
    worker = RunJobs("--burst")
    try:
        worker.wait(timeout=60)
    finally:
        output = worker.output()
        worker.stop()
    job.refresh_from_db()
    assert (job.state, job.result) == (S.COMPLETED, 5), output
    page.reload()
    assert page.locator(".djobs-headline .djobs-badge").inner_text() == "Completed"
    screenshot(page, "job-completed-after-retry")


def test_dashboard_draws_its_chart_and_refreshes_itself(page: Any, live_server: Any) -> None:
    JobFactory.create_batch(3, state=S.COMPLETED, finished_at=timezone.now())
    discarded_job()
    WorkerProcessFactory(id="worker-browser", queues={"default": 10})
    log_in(page, live_server)
    page.get_by_role("link", name="Dashboard").first.click()
    page.wait_for_url(re.compile(r"/admin/djobs/dashboard/"))
    page.wait_for_selector("#djobs-chart[data-drawn='60']")
    assert page.locator("#djobs-chart rect.djobs-bar-completed").count() >= 1
    assert "worker-browser" in page.locator("#djobs-workers").inner_text()
    assert page.evaluate("window.__pwned === undefined")
    screenshot(page, "dashboard")
    page.goto(f"{live_server.url}/admin/djobs/dashboard/?refresh=2")
    JobFactory(state=S.AVAILABLE, queue="payments")
    page.wait_for_selector("#djobs-live[data-refreshed]", timeout=10_000)
    assert "payments" in page.locator("#djobs-counts").inner_text()
