"""Async jobs under the fault model: a frozen worker does not start async jobs rescued meanwhile."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from djobs.models import Job
from tests.fault_support import FAST, stop_between_writes, ticks, worker_id_of
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import async_jobs
from tests.testapp.models import Marker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.fault]


def test_a_paused_worker_does_not_start_async_jobs_it_had_claimed_ahead_once_they_were_rescued(
    runjobs: Callable[..., RunJobs],
) -> None:
    jobs = async_jobs.tick.enqueue_many([(0.02,)] * 100)  # short: 3 claimed per slot
    # The rescuer serves another queue: the rescued jobs wait for the paused worker.
    runjobs("--queue", "other=1", **FAST)
    paused = runjobs("--queue", "aio=1", **FAST)
    paused_id = worker_id_of(paused)
    wait_until(lambda: Marker.objects.filter(name="tick").count() >= 10, what="short jobs to run")
    claimed_ahead: list[int] = []
    maybe_started: set[int] = set()
    for _ in range(50):  # freeze it while it holds jobs no task has started yet
        stop_between_writes(paused)
        held = Job.objects.filter(state="executing", worker_id=paused_id).values_list("pk", flat=True)
        ran = set(Marker.objects.filter(name="tick").values_list("job_id", flat=True))
        no_marker = sorted(pk for pk in held if pk not in ran)
        maybe_started = ran | set(no_marker[:1])
        claimed_ahead = no_marker[1:]
        if claimed_ahead:
            break
        paused.signal(signal.SIGCONT)
        time.sleep(0.03)
    assert claimed_ahead, "the worker never held an async job claimed ahead"
    wait_until(
        lambda: not Job.objects.filter(pk__in=claimed_ahead, state="executing").exists(),
        timeout=10,
        what="the other worker to rescue the frozen worker's jobs",
    )
    paused.signal(signal.SIGCONT)
    wait_until(lambda: not Job.objects.exclude(state="completed").exists(), timeout=20, what="all jobs")
    runs = {job.pk: ticks(job) for job in jobs}
    assert all(runs[pk] == 1 for pk in claimed_ahead), (runs, claimed_ahead, paused.output())
    again = {pk for pk, n in runs.items() if n != 1}
    assert again <= maybe_started, (again, paused.output())
    assert all(1 <= n <= 2 for n in runs.values()), runs
