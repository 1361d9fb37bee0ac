"""The admin at 1280 px: the job list fits, the job page's current error, the periodic list's times."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from djobs.models import Job, PeriodicSchedule
from tests.factories import JobFactory

from .conftest import screenshot
from .test_admin_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

S = Job.State
LONG_PATH = "tests.testapp.worker_jobs.sleeps_on_first_attempt"


def _error(attempt: int, text: str) -> dict[str, Any]:
    return {"attempt": attempt, "at": timezone.now().isoformat(), "error": text, "traceback": None}


def _overflow(page: Any, selector: str) -> int:
    """Return by how many px the element's content is wider than its box (0: it fits)."""
    return int(page.locator(selector).first.evaluate("e => e.scrollWidth - e.clientWidth"))


def test_the_job_list_fits_1280_px_with_names_and_relative_times(page: Any, live_server: Any) -> None:
    now = timezone.now()
    job = JobFactory(
        path=LONG_PATH,
        queue="a-rather-long-queue-name",
        state=S.COMPLETED,
        attempt=3,
        max_attempts=20,
        scheduled_at=now - timedelta(seconds=50),
        attempted_at=now - timedelta(seconds=42),
        finished_at=now - timedelta(seconds=12),
    )
    JobFactory.create_batch(5, state=S.AVAILABLE, path="tests.testapp.jobs.add")
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/djobs/job/")
    screenshot(page, "first-hour-job-list-1280")
    assert _overflow(page, "#changelist .results") <= 0
    row = page.locator("#result_list tbody tr", has_text=str(job.pk)).first
    name = row.locator(".djobs-job-name")
    assert name.inner_text() == "sleeps_on_first_attempt"
    assert name.get_attribute("title") == LONG_PATH
    times = row.locator("time.djobs-time")
    texts = [times.nth(i).inner_text() for i in range(3)]
    # Seconds tell scheduled, attempted and finished apart.
    assert [re.fullmatch(r"(\d+) s ago", t) is not None for t in texts] == [True, True, True], texts
    assert len(set(texts)) == 3
    finished_title = times.nth(2).get_attribute("title") or ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC", finished_title), finished_title


def test_the_by_job_filter_wraps_dotted_paths_after_a_dot(page: Any, live_server: Any) -> None:
    JobFactory(path=LONG_PATH)
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/djobs/job/")
    link = page.locator("#changelist-filter a", has_text="sleeps_on_first_attempt").first
    # The link's text, line by line as the browser laid it out (by each character's top).
    lines = link.evaluate(
        """(a) => {
             const walker = document.createTreeWalker(a, NodeFilter.SHOW_TEXT);
             const byTop = new Map();
             let node;
             while ((node = walker.nextNode())) {
               for (let i = 0; i < node.length; i++) {
                 const range = document.createRange();
                 range.setStart(node, i); range.setEnd(node, i + 1);
                 const top = Math.round(range.getBoundingClientRect().top);
                 byTop.set(top, (byTop.get(top) || '') + node.data[i]);
               }
             }
             return Array.from(byTop.values()).map((line) => line.trim()).filter((line) => line);
           }"""
    )
    assert "".join(lines) == LONG_PATH and len(lines) > 1, lines
    # Every line but the last ends at a dot: names are never cut in the middle.
    assert all(line.endswith(".") for line in lines[:-1]), lines
    screenshot(page, "first-hour-job-filter")


def test_the_job_page_shows_the_current_error_only_while_the_job_is_failing(
    page: Any, live_server: Any
) -> None:
    errors = [_error(1, "TimeoutError: the mail server did not answer")]
    recovered = JobFactory(
        state=S.COMPLETED, attempt=2, max_attempts=5, errors=errors, finished_at=timezone.now()
    )
    failing = JobFactory(state=S.RETRYABLE, attempt=1, max_attempts=5, errors=errors)
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/djobs/job/{recovered.pk}/change/")
    assert page.locator(".djobs-headline .djobs-badge").inner_text() == "Completed"
    assert page.locator(".djobs-last-error").count() == 0
    assert "did not answer" in page.locator(".djobs-error-text").first.inner_text()  # kept as history
    history = page.locator(".djobs-errors-history").inner_text()
    assert "completed now; these errors are from earlier attempts" in history
    screenshot(page, "first-hour-job-completed-after-errors")
    page.goto(f"{live_server.url}/admin/djobs/job/{failing.pk}/change/")
    assert page.locator(".djobs-last-error").inner_text() == "TimeoutError: the mail server did not answer"
    assert page.locator(".djobs-errors-history").count() == 0
    screenshot(page, "first-hour-job-retryable")


def test_the_periodic_list_shows_next_runs_in_the_schedules_zone_with_utc_on_hover(
    page: Any, live_server: Any
) -> None:
    PeriodicSchedule.objects.create(
        name="daily-report",
        cron="0 9 * * *",
        timezone="Europe/Paris",
        path="tests.testapp.jobs.add",
        args=[1, 2],
        next_run_at=timezone.now().replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1),
    )
    PeriodicSchedule.objects.create(
        name="every-few-minutes-on-weekdays",
        cron="*/15 8-18 * * 1-5",
        timezone="America/New_York",
        path="tests.testapp.jobs.add",
        args=[1, 2],
    )
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/djobs/periodicschedule/")
    screenshot(page, "first-hour-periodic-list")
    assert _overflow(page, "#changelist .results") <= 0
    next_run = page.locator("tr", has_text="daily-report").locator(".djobs-next-run")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d 09:00 CES?T", next_run.inner_text()), next_run.inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d 08:00 UTC", next_run.get_attribute("title") or "")
    cron = page.locator("tr", has_text="every-few-minutes").locator(".djobs-cron")
    assert cron.inner_text() == "*/15 8-18 * * 1-5"
    height = cron.evaluate("e => e.getBoundingClientRect().height")
    line = cron.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 16")
    assert height < 1.5 * line  # one line: the cron does not wrap
    screenshot(page, "first-hour-periodic-list")


def test_a_schedule_from_settings_is_read_only_text_with_a_note_where_it_is_declared(
    page: Any, live_server: Any
) -> None:
    schedule = PeriodicSchedule.objects.create(
        name="from-settings",
        cron="0 9 * * *",
        timezone="Europe/Paris",
        path="tests.testapp.jobs.add",
        args=[1, 2],
        from_settings=True,
    )
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/djobs/periodicschedule/{schedule.pk}/change/")
    note = page.locator(".djobs-settings-note").inner_text()
    assert "DJOBS['PERIODIC']['from-settings']" in note and "settings" in note
    for name in ("cron", "timezone", "path", "args", "kwargs", "options"):
        assert page.locator(f"[name={name}]").count() == 0, name  # text, not a (disabled) input
    assert page.locator(".field-cron .readonly").inner_text() == "0 9 * * *"
    screenshot(page, "first-hour-periodic-from-settings")
    page.uncheck("[name=enabled]")  # the one thing the admin may change
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/djobs/periodicschedule/$"))
    schedule.refresh_from_db()
    assert (schedule.enabled, schedule.cron, schedule.args) == (False, "0 9 * * *", [1, 2])
