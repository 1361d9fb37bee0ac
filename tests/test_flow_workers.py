"""Flow control with real workers: limits hold across processes, pauses and scales reach them.

Each job records its start and end by the database clock in a side table
(tests.testapp.flow_jobs), and the assertions read those times.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from djobs import operations
from djobs.db import get_ops
from djobs.models import Job
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import flow_jobs
from tests.testapp.flow_jobs import most_overlapping, most_starts_in_window, runs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

Start = Callable[..., RunJobs]


@pytest.fixture
def flow_queues(settings: Any) -> Callable[[dict[str, Any]], dict[str, str]]:
    """Configure DJOBS['QUEUES'] here and return the environment giving workers the same."""
    flow_jobs.create_table()

    def configure(queues: dict[str, Any]) -> dict[str, str]:
        settings.DJOBS = {**settings.DJOBS, "QUEUES": queues}
        return {
            "DJANGO_SETTINGS_MODULE": "tests.flow_worker_settings",
            "DJOBS_FLOW_QUEUES": json.dumps(queues),
        }

    return configure


def completed(count: int) -> Callable[[], bool]:
    return lambda: Job.objects.filter(state="completed").count() >= count


def test_three_workers_never_run_more_than_the_global_limit(runjobs: Start, flow_queues: Any) -> None:
    env = flow_queues({"limited": {"concurrency": 5, "global_limit": 2}})
    for _ in range(16):
        flow_jobs.runs_for.using(queue="limited").enqueue(0.2)
    workers = [runjobs("--queue", "limited=5", **env) for _ in range(3)]
    try:
        wait_until(completed(16), timeout=20, what="16 jobs to complete")
    except AssertionError:
        print(workers[0].output(), list(Job.objects.values_list("state", "errors")))
        raise
    rows = runs()
    assert len(rows) == 16, workers[0].output()
    assert most_overlapping(rows) == 2


def test_a_rate_limit_never_allows_more_starts_in_any_window(runjobs: Start, flow_queues: Any) -> None:
    env = flow_queues({"rated": {"concurrency": 5, "rate_limit": {"allowed": 10, "period": 2}}})
    flow_jobs.runs_for.using(queue="rated").enqueue_many([(0.01,)] * 40)
    workers = [runjobs("--queue", "rated=5", **env) for _ in range(3)]
    try:
        wait_until(completed(40), timeout=60, what="40 jobs to complete")
    except AssertionError:
        print(*(w.output() for w in workers), sep="\n")
        unfinished = Job.objects.exclude(state="completed")
        print(*unfinished.values("id", "state", "attempt", "worker_id", "attempted_at"))
        print(runs())
        raise
    starts = [started for _, _, started, _ in runs()]
    assert len(starts) == 40
    assert most_starts_in_window(starts, 2.0) == 10, [round(s - starts[0], 3) for s in starts]
    # Four windows' worth: at least 6 s from the first start to the last.
    assert starts[-1] - starts[0] >= 6.0


def test_a_partitioned_limit_runs_accounts_in_parallel_and_each_alone(
    runjobs: Start, flow_queues: Any
) -> None:
    env = flow_queues({"exports": {"concurrency": 5, "global_limit": 1, "partition_by": ["account_id"]}})
    for account in ("a", "b", "c") * 3:
        flow_jobs.runs_for.using(queue="exports").enqueue(0.3, account_id=account)
    assert set(Job.objects.values_list("partition_key", flat=True)) == {'["a"]', '["b"]', '["c"]'}
    runjobs("--queue", "exports=5", **env)
    runjobs("--queue", "exports=5", **env)
    wait_until(completed(9), timeout=60, what="9 jobs to complete")
    rows = runs()
    for account in ("a", "b", "c"):
        assert most_overlapping([r for r in rows if r[1] == account]) == 1
    assert most_overlapping(rows) >= 2


def test_retries_and_snoozes_count_as_starts_against_a_rate_limit(runjobs: Start, flow_queues: Any) -> None:
    env = flow_queues({"rated": {"concurrency": 5, "rate_limit": {"allowed": 2, "period": 3}}})
    flow_jobs.snoozes_once.using(queue="rated").enqueue_many([(0.01,)] * 2)
    runjobs("--queue", "rated=5", **env)
    wait_until(completed(2), timeout=30, what="2 jobs to complete")
    starts = [started for _, _, started, _ in runs()]
    # Two jobs, each started twice (the snooze): the second pair waits for the window.
    assert len(starts) == 4
    assert starts[2] - starts[0] >= 3.0


def test_pause_stops_new_starts_while_the_running_job_finishes_and_resume_restarts(
    runjobs: Start, flow_queues: Any, on_postgres: bool
) -> None:
    env = flow_queues({"default": 2, "flow": 2})
    running = flow_jobs.runs_for.enqueue(1.5)
    runjobs("--queue", "flow=2", DJOBS_POLL_INTERVAL="1.0" if on_postgres else "0.2", **env)
    wait_until(lambda: len(runs()) == 1, what="the first job to start")
    operations.pause_queue("flow")
    paused_at = get_ops().flow_clock()
    time.sleep(1.0)  # the pause reaches the worker within a second
    flow_jobs.runs_for.enqueue_many([(0.01,)] * 3)  # enqueueing into a paused queue works
    time.sleep(1.0)
    rows = runs()
    assert [r[0] for r in rows] == [running.id]
    assert rows[0][3] is not None  # the running job finished
    assert Job.objects.filter(state="available").count() == 3
    operations.resume_queue("flow")
    wait_until(completed(4), timeout=10, what="the paused jobs to run after resume")
    assert all(started > paused_at + 1.0 for _, _, started, _ in runs()[1:])


def test_pause_reaches_a_worker_within_a_second(runjobs: Start, flow_queues: Any, on_postgres: bool) -> None:
    # On PostgreSQL the NOTIFY carries it: the poll is left at 5 s to prove it.
    env = flow_queues({"default": 2, "flow": 2})
    runjobs("--queue", "flow=2", DJOBS_POLL_INTERVAL="5.0" if on_postgres else "0.5", **env)
    flow_jobs.runs_for.enqueue(0.01)
    wait_until(completed(1), what="the first job")
    operations.pause_queue("flow")
    paused_at = time.monotonic()
    time.sleep(1.0)
    flow_jobs.runs_for.enqueue(0.01)
    time.sleep(1.5)
    assert len(runs()) == 1, f"a job started {time.monotonic() - paused_at:.1f}s after the pause"


def test_scale_changes_how_many_run_at_once(runjobs: Start, flow_queues: Any) -> None:
    env = flow_queues({"default": 2, "flow": 1})
    flow_jobs.runs_for.enqueue_many([(0.4,)] * 3)
    runjobs("--queue", "flow=1", **env)
    wait_until(completed(3), timeout=20, what="3 jobs, one at a time")
    assert most_overlapping(runs()) == 1
    operations.scale_queue("flow", 3)
    time.sleep(1.0)
    flow_jobs.create_table()
    flow_jobs.runs_for.enqueue_many([(0.6,)] * 3)
    wait_until(completed(6), timeout=20, what="3 more jobs, together")
    assert most_overlapping(runs()) == 3


def test_a_pause_survives_a_worker_restart(runjobs: Start, flow_queues: Any) -> None:
    env = flow_queues({"default": 2, "flow": 2})
    operations.pause_queue("flow")
    first = runjobs("--queue", "flow=2", **env)
    flow_jobs.runs_for.enqueue(0.01)
    time.sleep(1.0)
    first.stop()
    runjobs("--queue", "flow=2", **env)
    time.sleep(1.5)
    assert runs() == []
    operations.resume_queue("flow")
    wait_until(completed(1), timeout=10, what="the job after resume")
