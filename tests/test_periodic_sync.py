"""DJOBS["PERIODIC"] into rows: created, updated, deleted; the admin's toggle kept unless settings say."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import override_settings

from djobs.maintenance.scheduler import PeriodicScheduler
from djobs.models import Job, PeriodicSchedule
from djobs.periodic.sync import sync_settings
from tests.factories import PeriodicScheduleFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
REPORT = {"cron": "0 9 * * *", "job": "tests.testapp.jobs.add", "args": [1, 2], "timezone": "Europe/Paris"}


def sync(periodic: dict[str, object], now: datetime = NOW) -> object:
    with override_settings(DJOBS={"PERIODIC": periodic}):
        return sync_settings(now)


def test_a_declared_schedule_becomes_a_row_from_settings_with_its_first_tick() -> None:
    result = sync({"daily-report": {**REPORT, "queue": "reports"}})
    row = PeriodicSchedule.objects.get()
    assert result.created == ["daily-report"]  # type: ignore[attr-defined]
    assert (row.name, row.cron, row.timezone, row.path, row.args) == (
        "daily-report",
        "0 9 * * *",
        "Europe/Paris",
        "tests.testapp.jobs.add",
        [1, 2],
    )
    assert row.options == {"queue": "reports"} and row.from_settings and row.enabled
    assert row.next_run_at == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)


def test_syncing_the_same_settings_again_changes_nothing() -> None:
    sync({"daily-report": REPORT})
    before = PeriodicSchedule.objects.get()
    result = sync({"daily-report": REPORT}, now=datetime(2026, 1, 7, tzinfo=UTC))
    after = PeriodicSchedule.objects.get()
    assert (result.created, result.updated, result.deleted) == ([], [], [])  # type: ignore[attr-defined]
    assert after.next_run_at == before.next_run_at and after.updated_at == before.updated_at


def test_a_changed_cron_moves_the_next_run_to_the_first_new_tick() -> None:
    sync({"daily-report": REPORT})
    result = sync({"daily-report": {**REPORT, "cron": "0 18 * * *"}})
    row = PeriodicSchedule.objects.get()
    assert result.updated == ["daily-report"]  # type: ignore[attr-defined]
    assert row.cron == "0 18 * * *"
    assert row.next_run_at == datetime(2026, 1, 5, 17, 0, tzinfo=UTC)


def test_changed_arguments_keep_the_next_run() -> None:
    sync({"daily-report": REPORT})
    sync({"daily-report": {**REPORT, "args": [3, 4]}}, now=datetime(2026, 1, 5, 20, 0, tzinfo=UTC))
    row = PeriodicSchedule.objects.get()
    assert row.args == [3, 4] and row.next_run_at == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)


def test_without_enabled_in_settings_the_admin_toggle_survives_a_restart() -> None:
    sync({"daily-report": REPORT})
    PeriodicSchedule.objects.update(enabled=False, next_run_at=None)  # what the admin does
    sync({"daily-report": REPORT})
    assert PeriodicSchedule.objects.get().enabled is False


def test_with_enabled_in_settings_settings_own_the_toggle() -> None:
    sync({"daily-report": {**REPORT, "enabled": False}})
    row = PeriodicSchedule.objects.get()
    assert (row.enabled, row.next_run_at) == (False, None)
    PeriodicSchedule.objects.update(enabled=True)  # toggled in the admin...
    sync({"daily-report": {**REPORT, "enabled": False}})
    assert PeriodicSchedule.objects.get().enabled is False  # ...and reset at the next start
    sync({"daily-report": {**REPORT, "enabled": True}})
    row = PeriodicSchedule.objects.get()
    assert row.enabled and row.next_run_at == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)


def test_a_schedule_removed_from_settings_is_deleted_and_its_jobs_stay() -> None:
    sync({"daily-report": REPORT, "hourly": {**REPORT, "cron": "@hourly"}})
    Job.objects.create(path="tests.testapp.jobs.add", args=[1, 2], meta={"periodic": "hourly"})
    result = sync({"daily-report": REPORT})
    assert result.deleted == ["hourly"]  # type: ignore[attr-defined]
    assert list(PeriodicSchedule.objects.values_list("name", flat=True)) == ["daily-report"]
    assert Job.objects.filter(meta__periodic="hourly").count() == 1


def test_schedules_created_in_the_admin_are_left_alone() -> None:
    PeriodicScheduleFactory(name="made-in-admin")
    sync({})
    assert PeriodicSchedule.objects.filter(name="made-in-admin").exists()


def test_settings_take_over_an_admin_schedule_of_the_same_name(caplog: pytest.LogCaptureFixture) -> None:
    PeriodicScheduleFactory(name="daily-report", cron="*/5 * * * *")
    sync({"daily-report": REPORT})
    row = PeriodicSchedule.objects.get()
    assert row.from_settings and row.cron == "0 9 * * *"
    assert "was created in the admin; DJOBS['PERIODIC'] declares the same name" in caplog.text


def test_an_invalid_entry_leaves_its_row_untouched_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    sync({"daily-report": REPORT})
    result = sync({"daily-report": {**REPORT, "cron": "0 9 * *"}})
    assert result.invalid == ["daily-report"] and result.deleted == []  # type: ignore[attr-defined]
    assert PeriodicSchedule.objects.get().cron == "0 9 * * *"
    assert "'cron': cron expression '0 9 * *' has 4 field(s)" in caplog.text


def test_the_scheduler_syncs_settings_in_its_first_round_then_runs_them() -> None:
    service = PeriodicScheduler()
    with override_settings(DJOBS={"PERIODIC": {"daily-report": REPORT}}):
        first = service.run_once(now=NOW)
        service.run_once(now=datetime(2026, 1, 6, 8, 0, tzinfo=UTC))
    assert first.counts["synced"] == 1
    [job] = Job.objects.all()
    assert job.meta == {"periodic": "daily-report", "tick": "2026-01-06T09:00:00+01:00"}


@pytest.mark.django_db(transaction=True)
def test_processes_syncing_at_the_same_time_make_one_row() -> None:
    barrier = threading.Barrier(4)
    results: list[object] = []

    def start() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(sync_settings(NOW))
        except Exception as exc:  # reported by the assertion below
            results.append(exc)
        finally:
            connection.close()

    with override_settings(DJOBS={"PERIODIC": {"daily-report": REPORT}}):
        threads = [threading.Thread(target=start) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(len(r.created) for r in results) == 1  # type: ignore[attr-defined]
    row = PeriodicSchedule.objects.get()
    assert row.next_run_at == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
