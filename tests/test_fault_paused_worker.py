"""A worker frozen (SIGSTOP) past RESCUE_AFTER neither re-runs its own jobs nor records a stale outcome."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from djobs.models import Job
from tests.fault_support import FAST, pause, starts, stop_between_writes, ticks, worker_id_of
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import fault_jobs
from tests.testapp.models import Marker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_paused_worker_does_not_run_its_own_job_again(runjobs: Callable[..., RunJobs]) -> None:
    job = fault_jobs.paced.enqueue(6)
    worker = runjobs("--queue", "default=1", **FAST)
    wait_until(lambda: starts(job), what="the job to start")
    pause(worker, 3)  # longer than RESCUE_AFTER=2: its own rescuer sees its own heartbeat stale
    wait_until(
        lambda: Job.objects.filter(pk=job.pk, state="completed").exists(), timeout=15, what="completion"
    )
    job.refresh_from_db()
    assert len(starts(job)) == 1, worker.output()
    assert (job.state, job.attempt, job.errors) == ("completed", 1, [])


def test_job_of_a_paused_worker_runs_at_most_once_more_and_its_late_outcome_is_dropped(
    runjobs: Callable[..., RunJobs],
) -> None:
    job = fault_jobs.paced.enqueue(5)
    paused = runjobs("--queue", "default=1", **FAST)
    wait_until(lambda: starts(job), what="the job to start")
    other = runjobs("--queue", "default=1", **FAST)
    other_id = worker_id_of(other)
    pause(paused, 4)
    wait_until(
        lambda: Job.objects.filter(pk=job.pk, state="completed").exists(), timeout=20, what="completion"
    )
    time.sleep(1)  # room for a late write of the paused worker's run
    job.refresh_from_db()
    names = starts(job)
    assert 1 <= len(names) <= 2, names
    if len(names) == 2:  # rescued: the second run is the other worker's, never the paused one's
        assert names[1] == f"start 2 {other_id}", names
    last_attempt, last_worker = names[-1].split()[1:]
    # The row holds the outcome of the last run: the paused worker's late outcome was fenced.
    assert (job.state, job.attempt) == ("completed", len(names)), paused.output()
    assert job.result == {"attempt": int(last_attempt), "worker": last_worker}


def test_paused_worker_does_not_start_jobs_it_had_claimed_ahead_once_they_were_rescued(
    runjobs: Callable[..., RunJobs],
) -> None:
    jobs = fault_jobs.tick.enqueue_many([(0.02,)] * 100)  # short: 3 claimed per thread
    # The rescuer serves another queue: the rescued jobs wait for the paused worker.
    runjobs("--queue", "other=1", **FAST)
    paused = runjobs("--queue", "default=1", **FAST)
    paused_id = worker_id_of(paused)
    wait_until(lambda: Marker.objects.filter(name="tick").count() >= 10, what="short jobs to run")
    claimed_ahead: list[int] = []
    maybe_started: set[int] = set()
    for _ in range(50):  # freeze it while it holds jobs no thread has started yet
        stop_between_writes(paused)
        held = Job.objects.filter(state="executing", worker_id=paused_id).values_list("pk", flat=True)
        ran = set(Marker.objects.filter(name="tick").values_list("job_id", flat=True))
        # The first job without a Marker may have started and not written it yet.
        no_marker = sorted(pk for pk in held if pk not in ran)
        maybe_started = ran | set(no_marker[:1])
        claimed_ahead = no_marker[1:]
        if claimed_ahead:
            break
        paused.signal(signal.SIGCONT)
        time.sleep(0.03)
    assert claimed_ahead, "the worker never held a job claimed ahead"
    wait_until(
        lambda: not Job.objects.filter(pk__in=claimed_ahead, state="executing").exists(),
        timeout=10,
        what="the other worker to rescue the frozen worker's jobs",
    )
    paused.signal(signal.SIGCONT)
    wait_until(lambda: not Job.objects.exclude(state="completed").exists(), timeout=15, what="all jobs")
    runs = {job.pk: ticks(job) for job in jobs}
    assert all(runs[pk] == 1 for pk in claimed_ahead), (runs, claimed_ahead, paused.output())
    # Only jobs that had started before the freeze (their outcome not written yet) run twice.
    again = {pk for pk, n in runs.items() if n != 1}
    assert again <= maybe_started, (again, paused.output())
    assert all(1 <= n <= 2 for n in runs.values()), runs
