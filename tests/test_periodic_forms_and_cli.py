"""The admin form refuses bad schedules with readable errors; ``jobs schedules`` lists next runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from djobs.models import PeriodicSchedule
from djobs.periodic.forms import PeriodicScheduleForm
from tests.factories import PeriodicScheduleFactory

pytestmark = pytest.mark.django_db

VALID = {
    "name": "daily-report",
    "cron": "0 9 * * *",
    "timezone": "Europe/Paris",
    "path": "tests.testapp.jobs.add",
    "args": "[1, 2]",
    "kwargs": "{}",
    "options": '{"queue": "reports"}',
    "enabled": "on",
}


def form_errors(**changes: Any) -> dict[str, list[str]]:
    form = PeriodicScheduleForm(data={**VALID, **changes})
    assert not form.is_valid()
    return {field: list(errors) for field, errors in form.errors.items()}


def test_a_valid_schedule_saves_with_its_next_run() -> None:
    form = PeriodicScheduleForm(data=VALID)
    assert form.is_valid(), form.errors
    schedule = form.save()
    assert schedule.options == {"queue": "reports"} and not schedule.from_settings
    assert schedule.next_run_at is not None and schedule.next_run_at > timezone.now()


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"cron": "0 9 * *"}, "cron", "cron expression '0 9 * *' has 4 field(s); use five"),
        ({"cron": "@reboot"}, "cron", "'@reboot' is not a known nickname"),
        ({"timezone": "Europe/Pari"}, "timezone", "did you mean 'Europe/Paris'?"),
        ({"path": "tests.testapp.jobs.ad"}, "path", "job 'tests.testapp.jobs.ad' is not a registered @job"),
        ({"args": '{"a": 1}'}, "args", "is not a JSON list"),
        ({"kwargs": "[1]"}, "kwargs", "is not a JSON object"),
        ({"options": '{"priorty": 1}'}, "options", "unknown option 'priorty'; did you mean 'priority'?"),
        ({"options": '{"catch_up": "never"}'}, "options", "catch_up is 'never'"),
        ({"args": "[1]"}, "__all__", "the arguments do not fit the job"),
    ],
)
def test_a_bad_schedule_is_a_form_error_naming_the_value(
    changes: dict[str, str], field: str, text: str
) -> None:
    errors = form_errors(**changes)
    assert any(text in message for message in errors.get(field, [])), errors


def test_changing_the_cron_moves_the_next_run_but_renaming_does_not() -> None:
    schedule = PeriodicScheduleFactory(
        cron="0 9 * * *", timezone="UTC", args=[1, 2], next_run_at=datetime(2030, 1, 1, 9, tzinfo=UTC)
    )
    data = {**VALID, "timezone": "UTC", "name": "renamed"}
    form = PeriodicScheduleForm(data=data, instance=schedule)
    assert form.is_valid(), form.errors
    assert form.save().next_run_at == datetime(2030, 1, 1, 9, tzinfo=UTC)
    form = PeriodicScheduleForm(data={**data, "cron": "30 * * * *"}, instance=schedule)
    assert form.is_valid(), form.errors
    next_run = form.save().next_run_at
    assert next_run is not None and next_run.minute == 30 and next_run - timezone.now() <= timedelta(hours=1)


def test_disabling_in_the_form_clears_the_next_run() -> None:
    schedule = PeriodicScheduleFactory(args=[1, 2], next_run_at=timezone.now())
    form = PeriodicScheduleForm(data={**VALID, "name": schedule.name, "enabled": ""}, instance=schedule)
    assert form.is_valid(), form.errors
    assert form.save().next_run_at is None


def test_a_schedule_from_settings_can_only_be_enabled_or_disabled() -> None:
    schedule = PeriodicScheduleFactory(
        name="from-settings", from_settings=True, args=[1, 2], cron="0 9 * * *"
    )
    form = PeriodicScheduleForm(data={**VALID, "cron": "* * * * *", "enabled": ""}, instance=schedule)
    assert form.is_valid(), form.errors
    saved = form.save()
    assert (saved.cron, saved.name, saved.enabled) == ("0 9 * * *", "from-settings", False)


def run(*args: str) -> str:
    out = StringIO()
    call_command("jobs", "schedules", *args, stdout=out)
    return out.getvalue()


def test_jobs_schedules_lists_each_schedule_in_words_with_its_next_runs() -> None:
    PeriodicScheduleFactory(
        name="daily-report",
        cron="0 9 * * *",
        timezone="Europe/Paris",
        next_run_at=datetime(2030, 1, 7, 8, tzinfo=UTC),
    )
    PeriodicScheduleFactory(name="paused", enabled=False)
    output = run("--upcoming", "2")
    assert "daily-report  [enabled, from admin]" in output
    assert "every day at 09:00 (Europe/Paris): '0 9 * * *' -> tests.testapp.jobs.add" in output
    assert "next: 2030-01-07 09:00:00 CET\n        2030-01-08 09:00:00 CET" in output
    assert "paused  [DISABLED, from admin]" in output and "next: - (disabled)" in output


def test_jobs_schedules_shows_settings_schedules_not_synced_yet_and_prints_json() -> None:
    periodic = {
        "nightly": {"cron": "@midnight", "job": "tests.testapp.jobs.add", "args": [1, 2], "timezone": "UTC"}
    }
    with override_settings(DJOBS={"PERIODIC": periodic}):
        [entry] = json.loads(run("--json"))
    assert entry["name"] == "nightly" and entry["source"].startswith("settings (not synced yet")
    assert entry["schedule"] == "every day at 00:00 (UTC)" and len(entry["next_runs"]) == 1


def test_jobs_schedules_says_when_there_is_none_and_refuses_a_bad_count() -> None:
    assert "No periodic schedules" in run()
    with pytest.raises(CommandError, match="--upcoming 0 is not valid; use 1 or more"):
        run("--upcoming", "0")
    assert PeriodicSchedule.objects.count() == 0


def test_a_settings_schedule_whose_entry_is_broken_can_still_be_disabled() -> None:
    schedule = PeriodicScheduleFactory(name="broken", from_settings=True, cron="0 9 * *", path="gone.job")
    form = PeriodicScheduleForm(data={"enabled": ""}, instance=schedule)
    assert form.is_valid(), form.errors
    assert form.save().enabled is False
    form = PeriodicScheduleForm(data={"enabled": "on"}, instance=schedule)
    assert form.is_valid(), form.errors
    saved = form.save()
    assert saved.enabled and saved.next_run_at is None  # the scheduler logs why it cannot run
