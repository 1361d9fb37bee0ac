"""Several ``runjobs`` processes share one schedule: each tick still becomes exactly one job."""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from djobs.models import Job, PeriodicSchedule, WorkerProcess
from tests.runjobs_process import RunJobs, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SETTINGS = "tests.periodic_worker_settings"
PROCESSES = 3
TICKS = 6


def with_outputs(processes: list[RunJobs], wait: Callable[[], None]) -> None:
    """Run ``wait``; if it fails, fail with what each process printed."""
    try:
        wait()
    except AssertionError as exc:
        outputs = "\n".join(f"--- runjobs {i}:\n{p.output()}" for i, p in enumerate(processes))
        raise AssertionError(f"{exc}\n{outputs}") from None


def ticks() -> list[datetime]:
    values = Job.objects.filter(meta__periodic="every-second").values_list("meta__tick", flat=True)
    return sorted(datetime.fromisoformat(value) for value in values)


def test_three_runjobs_processes_enqueue_each_tick_of_a_per_second_schedule_once(
    processes: list[RunJobs],
) -> None:
    # The schedule is declared in the subprocesses' settings: each process syncs
    # it into its row at start, then all three race for every tick.
    for started in range(1, PROCESSES + 1):
        processes.append(RunJobs("--queue", "default=2", DJANGO_SETTINGS_MODULE=SETTINGS))
        # One start at a time: what this test races is the scheduler, not start-up.
        with_outputs(
            processes,
            lambda n=started: wait_until(
                lambda: WorkerProcess.objects.count() >= n, timeout=30, what="start-up"
            ),
        )
    with_outputs(processes, lambda: wait_until(lambda: len(ticks()) >= TICKS, timeout=45, what="ticks"))
    for process in processes:
        process.signal(signal.SIGTERM)
    for process in processes:
        assert process.wait(30) == 0, process.output()
    seen = ticks()
    assert len(seen) == len(set(seen)), f"a tick was enqueued twice: {seen}"
    assert seen == [seen[0] + timedelta(seconds=i) for i in range(len(seen))], seen
    schedule = PeriodicSchedule.objects.get()
    assert schedule.from_settings and schedule.last_run_at == seen[-1]
