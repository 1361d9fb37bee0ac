"""The periodic scheduler: each due tick becomes one job, with controlled time, on both databases."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from djobs.maintenance.scheduler import PeriodicScheduler, SchedulerConfig, periodic_unique_key
from djobs.models import Job, PeriodicSchedule
from tests.factories import JobFactory, PeriodicScheduleFactory

pytestmark = pytest.mark.django_db


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def scheduler() -> PeriodicScheduler:
    # No settings sync: these tests create their rows directly.
    return PeriodicScheduler(SchedulerConfig(sync_on_start=False))


def ticks_of(name: str) -> list[str]:
    return [job.meta["tick"] for job in Job.objects.filter(meta__periodic=name).order_by("id")]


def daily(**fields: object) -> PeriodicSchedule:
    defaults: dict[str, object] = {
        "name": "daily-report",
        "cron": "0 9 * * *",
        "timezone": "Europe/Paris",
        "next_run_at": utc(2026, 1, 5, 8, 0),  # 09:00 in Paris
    }
    return PeriodicScheduleFactory(**{**defaults, **fields})  # type: ignore[no-any-return]


def test_a_new_schedule_gets_its_first_tick_after_now_and_runs_nothing_yet() -> None:
    schedule = daily(next_run_at=None)
    result = scheduler().run_once(now=utc(2026, 1, 5, 10, 0))
    schedule.refresh_from_db()
    assert result.counts["initialized"] == 1
    assert schedule.next_run_at == utc(2026, 1, 6, 8, 0)
    assert Job.objects.count() == 0


def test_nothing_is_enqueued_before_the_tick() -> None:
    daily()
    assert not scheduler().run_once(now=utc(2026, 1, 5, 7, 59, 59))
    assert Job.objects.count() == 0


def test_a_due_tick_is_enqueued_once_with_the_schedule_and_tick_in_meta() -> None:
    schedule = daily(args=[2, 3])
    service = scheduler()
    result = service.run_once(now=utc(2026, 1, 5, 8, 0))
    [job] = Job.objects.all()
    assert result.counts["enqueued"] == 1
    assert (job.path, job.args, job.state) == ("tests.testapp.jobs.add", [2, 3], Job.State.AVAILABLE)
    assert job.meta == {"periodic": "daily-report", "tick": "2026-01-05T09:00:00+01:00"}
    schedule.refresh_from_db()
    assert schedule.next_run_at == utc(2026, 1, 6, 8, 0)
    assert schedule.last_run_at == utc(2026, 1, 5, 8, 0)
    # Later rounds before the next tick do nothing.
    for second in range(1, 5):
        assert not service.run_once(now=utc(2026, 1, 5, 8, 0, second))
    assert Job.objects.count() == 1


def test_ticks_are_enqueued_on_time_one_job_each_over_several_days() -> None:
    daily()
    service = scheduler()
    for day in range(5, 10):
        service.run_once(now=utc(2026, 1, day, 7, 59))
        service.run_once(now=utc(2026, 1, day, 8, 0, 0))
        service.run_once(now=utc(2026, 1, day, 8, 0, 1))
    assert ticks_of("daily-report") == [f"2026-01-{day:02d}T09:00:00+01:00" for day in range(5, 10)]


def test_several_schedulers_enqueue_each_tick_once() -> None:
    daily(cron="*/10 * * * *", next_run_at=utc(2026, 1, 5, 8, 0))
    services = [scheduler(), scheduler(), scheduler()]
    for minute in range(0, 60, 5):
        for service in services:
            service.run_once(now=utc(2026, 1, 5, 8, minute))
    assert ticks_of("daily-report") == [f"2026-01-05T09:{m:02d}:00+01:00" for m in range(0, 60, 10)]


def test_a_scheduler_holding_a_stale_row_enqueues_nothing() -> None:
    schedule = daily()
    first, late = scheduler(), scheduler()
    first.run_once(now=utc(2026, 1, 5, 8, 0))
    # `late` read the row before `first` moved next_run_at: its conditional update matches nothing.
    planned = late._prepare(schedule, utc(2026, 1, 5, 8, 0), "default")
    assert late._write([planned], "default") == []  # type: ignore[list-item]
    assert Job.objects.count() == 1


def test_a_tick_reached_again_inserts_no_second_job() -> None:
    schedule = daily()
    scheduler().run_once(now=utc(2026, 1, 5, 8, 0))
    # Something put next_run_at back on the same tick (a racing settings sync, say):
    # the (schedule, tick) unique key still admits one job.
    PeriodicSchedule.objects.filter(pk=schedule.pk).update(next_run_at=utc(2026, 1, 5, 8, 0))
    Job.objects.update(state=Job.State.COMPLETED)
    result = scheduler().run_once(now=utc(2026, 1, 5, 8, 0, 30))
    assert result.counts["enqueued"] == 0
    assert Job.objects.count() == 1


def test_the_unique_key_is_the_instant_whatever_zone_it_is_written_in() -> None:
    from zoneinfo import ZoneInfo

    in_paris = datetime(2026, 1, 5, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert periodic_unique_key("r", in_paris) == periodic_unique_key("r", utc(2026, 1, 5, 8, 0))
    assert periodic_unique_key("r", in_paris) != periodic_unique_key("other", in_paris)


def test_a_disabled_schedule_enqueues_nothing_and_loses_its_next_run() -> None:
    schedule = daily(enabled=False)
    result = scheduler().run_once(now=utc(2026, 1, 5, 8, 0))
    schedule.refresh_from_db()
    assert Job.objects.count() == 0
    assert result.counts["cleared"] == 1
    assert schedule.next_run_at is None


def test_a_re_enabled_schedule_starts_from_then_without_a_catch_up_run() -> None:
    schedule = daily(enabled=False)
    service = scheduler()
    service.run_once(now=utc(2026, 1, 5, 8, 0))
    PeriodicSchedule.objects.filter(pk=schedule.pk).update(enabled=True)
    service.run_once(now=utc(2026, 1, 7, 12, 0))
    assert Job.objects.count() == 0
    schedule.refresh_from_db()
    assert schedule.next_run_at == utc(2026, 1, 8, 8, 0)
    service.run_once(now=utc(2026, 1, 8, 8, 0))
    assert ticks_of("daily-report") == ["2026-01-08T09:00:00+01:00"]


def test_after_downtime_the_default_is_one_run_for_the_most_recent_missed_tick() -> None:
    schedule = daily()
    result = scheduler().run_once(now=utc(2026, 1, 9, 12, 0))  # four days and a bit later
    assert result.counts["enqueued"] == 1
    assert ticks_of("daily-report") == ["2026-01-09T09:00:00+01:00"]
    schedule.refresh_from_db()
    assert schedule.next_run_at == utc(2026, 1, 10, 8, 0)


def test_catch_up_all_runs_every_missed_tick_in_order() -> None:
    daily(options={"catch_up": "all"})
    scheduler().run_once(now=utc(2026, 1, 9, 12, 0))
    assert ticks_of("daily-report") == [f"2026-01-{day:02d}T09:00:00+01:00" for day in range(5, 10)]


def test_catch_up_all_spreads_a_long_backlog_over_rounds_of_the_limit() -> None:
    daily(cron="0 * * * *", options={"catch_up": "all"})
    service = PeriodicScheduler(SchedulerConfig(sync_on_start=False, catch_up_limit=10))
    now = utc(2026, 1, 6, 8, 0)  # 25 hourly ticks are due
    counts = [service.run_once(now=now).counts["enqueued"] for _ in range(4)]
    assert counts == [10, 10, 5, 0]
    assert len(set(ticks_of("daily-report"))) == 25


def test_catch_up_skip_runs_no_missed_tick_and_resumes_with_the_next() -> None:
    schedule = daily(options={"catch_up": "skip"})
    result = scheduler().run_once(now=utc(2026, 1, 9, 12, 0))
    assert result.counts["skipped"] == 1
    assert Job.objects.count() == 0
    schedule.refresh_from_db()
    assert schedule.next_run_at == utc(2026, 1, 10, 8, 0)


def test_catch_up_skip_still_runs_a_tick_seen_within_the_grace() -> None:
    daily(options={"catch_up": "skip"})
    scheduler().run_once(now=utc(2026, 1, 5, 8, 0, 45))
    assert ticks_of("daily-report") == ["2026-01-05T09:00:00+01:00"]


def test_options_override_the_jobs_queue_priority_and_attempts() -> None:
    daily(
        path="tests.testapp.jobs.send_email",
        args=["a@example.com"],
        options={"queue": "reports", "priority": 7},
    )
    scheduler().run_once(now=utc(2026, 1, 5, 8, 0))
    [job] = Job.objects.all()
    # send_email is declared with queue="emails", priority=3, max_attempts=5.
    assert (job.queue, job.priority, job.max_attempts) == ("reports", 7, 5)


def test_the_spring_forward_day_runs_the_missing_0230_once_at_0300() -> None:
    daily(cron="30 2 * * *", next_run_at=utc(2026, 3, 28, 1, 30))
    service = scheduler()
    for hour in range(0, 72):
        service.run_once(now=utc(2026, 3, 28) + timedelta(hours=hour, minutes=45))
    assert ticks_of("daily-report") == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


def test_the_fall_back_day_runs_0230_at_both_of_its_instants() -> None:
    daily(cron="30 2 * * *", next_run_at=utc(2026, 10, 24, 0, 30))
    service = scheduler()
    for quarter in range(0, 4 * 72):
        service.run_once(now=utc(2026, 10, 24) + timedelta(minutes=15 * quarter))
    assert ticks_of("daily-report") == [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-26T02:30:00+01:00",
    ]


def test_a_cron_changed_behind_the_forms_back_restarts_from_the_first_new_tick() -> None:
    schedule = daily()
    PeriodicSchedule.objects.filter(pk=schedule.pk).update(cron="0 18 * * *")
    result = scheduler().run_once(now=utc(2026, 1, 5, 8, 0))
    schedule.refresh_from_db()
    assert result.counts["initialized"] == 1 and Job.objects.count() == 0
    assert schedule.next_run_at == utc(2026, 1, 5, 17, 0)


@pytest.mark.parametrize(
    ("fields", "logged"),
    [
        ({"cron": "0 9 * *"}, "cron expression '0 9 * *' has 4 field(s)"),
        ({"timezone": "Mars/Olympus"}, "time zone 'Mars/Olympus' is not known to zoneinfo"),
        ({"path": "tests.testapp.jobs.gone"}, "job 'tests.testapp.jobs.gone' is not a registered @job"),
        ({"args": [1]}, "missing a required argument: 'b'"),
        ({"options": {"priority": 99}}, "priority is 99; use an integer from 0 to 9"),
    ],
)
def test_a_bad_row_is_skipped_with_a_logged_error_and_the_others_still_run(
    fields: dict[str, object], logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    bad = daily(name="bad", **fields)
    daily(name="good", args=[1, 1])
    service = scheduler()
    with caplog.at_level(logging.ERROR, logger="djobs.periodic"):
        result = service.run_once(now=utc(2026, 1, 5, 8, 0))
        again = service.run_once(now=utc(2026, 1, 5, 8, 0, 1))
    assert result.counts["errors"] == 1 and result.counts["enqueued"] == 1
    assert not again, "a known bad row is not reported (nor logged by runjobs) every round"
    assert ticks_of("good") == ["2026-01-05T09:00:00+01:00"] and ticks_of("bad") == []
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, "the same error is logged once, not every round"
    assert "Periodic schedule 'bad' skipped" in errors[0] and logged in errors[0]
    bad.refresh_from_db()
    assert bad.next_run_at == utc(2026, 1, 5, 8, 0), "left due, so a fix resumes it"


def test_a_fixed_row_resumes_under_its_catch_up_policy() -> None:
    bad = daily(path="tests.testapp.jobs.gone", args=[1, 1])
    service = scheduler()
    service.run_once(now=utc(2026, 1, 5, 8, 0))
    PeriodicSchedule.objects.filter(pk=bad.pk).update(path="tests.testapp.jobs.add")
    service.run_once(now=utc(2026, 1, 7, 8, 30))
    assert ticks_of("daily-report") == ["2026-01-07T09:00:00+01:00"]


def test_the_interval_waits_until_the_next_tick_but_never_more_than_the_maximum() -> None:
    now = utc(2026, 1, 5, 8, 0)
    daily(cron="* * * * * *", next_run_at=now)
    clock = [now]
    service = PeriodicScheduler(SchedulerConfig(sync_on_start=False), clock=lambda: clock[0])
    assert service.interval == 1.0  # nothing known yet
    service.run_once()
    clock[0] = now + timedelta(milliseconds=400)
    assert service.interval == pytest.approx(0.6)
    PeriodicSchedule.objects.update(cron="@daily", next_run_at=utc(2026, 1, 6))
    service.run_once(now + timedelta(seconds=1))
    assert service.interval == 1.0


def test_finished_periodic_jobs_do_not_confuse_the_scheduler() -> None:
    daily()
    JobFactory(
        meta={"periodic": "daily-report", "tick": "2026-01-04T09:00:00+01:00"}, state=Job.State.COMPLETED
    )
    scheduler().run_once(now=utc(2026, 1, 5, 8, 0))
    assert ticks_of("daily-report") == ["2026-01-04T09:00:00+01:00", "2026-01-05T09:00:00+01:00"]


def test_a_bad_config_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"SchedulerConfig.catch_up_limit=0: use at least 1"):
        PeriodicScheduler(SchedulerConfig(catch_up_limit=0))


def test_a_bad_row_that_stays_due_does_not_make_the_scheduler_spin() -> None:
    now = utc(2026, 1, 5, 8, 0)
    daily(cron="not a cron", next_run_at=now - timedelta(days=1))
    daily(name="later", next_run_at=now + timedelta(minutes=5))
    service = PeriodicScheduler(SchedulerConfig(sync_on_start=False), clock=lambda: now)
    service.run_once()
    assert service.interval == 1.0


def test_an_unexpected_error_in_one_schedule_is_logged_once_and_the_round_goes_on(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    daily(name="broken")
    daily(name="fine", args=[1, 1])
    original = PeriodicScheduler._pending

    def explode(self: PeriodicScheduler, row: PeriodicSchedule, tick: datetime) -> object:
        if row.name == "broken":
            raise RuntimeError("boom")
        return original(self, row, tick)

    monkeypatch.setattr(PeriodicScheduler, "_pending", explode)
    service = scheduler()
    with caplog.at_level(logging.ERROR, logger="djobs.periodic"):
        first = service.run_once(now=utc(2026, 1, 5, 8, 0, 1))
        service.run_once(now=utc(2026, 1, 5, 8, 0, 2))
    assert (first.counts["errors"], first.counts["enqueued"]) == (1, 1)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "Periodic schedule 'broken' skipped: RuntimeError: boom" in record.getMessage()
    assert record.exc_info is not None
    assert ticks_of("broken") == [] and PeriodicSchedule.objects.get(name="broken").next_run_at == utc(
        2026, 1, 5, 8
    )


def test_planning_before_the_due_tick_enqueues_nothing_and_keeps_it() -> None:
    from djobs.maintenance.scheduler import plan_ticks
    from djobs.periodic.cron import parse_cron

    due = utc(2026, 1, 5, 8, 0)
    for policy in ("latest", "all", "skip"):
        plan = plan_ticks(parse_cron("0 8 * * *"), UTC, due, due - timedelta(seconds=1), policy)
        assert (plan.ticks, plan.next_run_at) == ([], due)


def test_a_failing_insert_undoes_only_its_own_schedule_in_a_batch(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import DatabaseError

    from djobs.maintenance import scheduler as scheduler_module

    for name in ("a-first", "b-broken", "c-last"):
        daily(name=name, args=[1, 1])
    original = scheduler_module.insert_pending

    def insert(pending: list) -> list:  # type: ignore[type-arg]
        if pending[0].meta["periodic"] == "b-broken":
            PeriodicSchedule.objects.update(cron="written by the failed insert")  # must be undone
            raise DatabaseError("disk full")
        return original(pending)

    monkeypatch.setattr(scheduler_module, "insert_pending", insert)
    with caplog.at_level(logging.ERROR, logger="djobs.periodic"):
        result = scheduler().run_once(now=utc(2026, 1, 5, 8, 0))
    assert (result.counts["enqueued"], result.counts["errors"]) == (2, 1)
    assert ticks_of("a-first") == ticks_of("c-last") == ["2026-01-05T09:00:00+01:00"]
    broken = PeriodicSchedule.objects.get(name="b-broken")
    assert (broken.next_run_at, broken.cron) == (utc(2026, 1, 5, 8, 0), "0 9 * * *")
    assert "Periodic schedule 'b-broken' skipped: DatabaseError: disk full" in caplog.text
