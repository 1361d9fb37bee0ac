"""Atomic jobs in real worker processes: killed or paused before the commit, the writes land once."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

from djobs.models import Job
from tests.fault_support import FAST, worker_id_of
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import atomic_jobs
from tests.testapp.models import Effect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def signalled(path: Path) -> list[str]:
    """Return the "<attempt> <worker>" lines the job wrote once its effect was written (uncommitted)."""
    return path.read_text().splitlines() if path.exists() else []


def completed(job: Job) -> bool:
    return Job.objects.filter(pk=job.pk, state="completed").exists()


def fenced_notice(output: str) -> bool:
    """Whether a worker logged that its attempt was fenced.

    Either its completion found the row taken ("was fenced"), or, first, its
    cancel watch saw the job rescued while it ran ("was taken from worker") and
    interrupted it: both roll the attempt's transaction back; which comes first
    depends on timing.
    """
    return "was fenced" in output or "was taken from worker" in output


def test_a_worker_killed_before_the_commit_leaves_nothing_and_the_rescued_job_writes_once(
    runjobs: Callable[..., RunJobs], tmp_path: Path
) -> None:
    signal_file = tmp_path / "signal"
    job = atomic_jobs.write_then_sleep.enqueue(60, str(signal_file))
    first = runjobs("--queue", "atomic=1", **FAST)
    wait_until(lambda: signalled(signal_file), what="the effect to be written")
    time.sleep(0.5)  # the recorder writes the start: the killed attempt counts
    first.signal(signal.SIGKILL)
    first.wait(5)
    assert Effect.objects.filter(job_id=job.pk).count() == 0  # never committed
    second = runjobs("--queue", "atomic=1", **FAST)
    wait_until(lambda: completed(job), timeout=20, what="the rescue and the second attempt")
    job.refresh_from_db()
    assert (job.state, job.attempt, job.result) == ("completed", 2, "done by attempt 2"), second.output()
    assert list(Effect.objects.filter(job_id=job.pk).values_list("attempt", flat=True)) == [2]
    assert "WorkerLost" in job.errors[0]["error"], job.errors


@pytest.mark.skipif(
    "connection.vendor == 'sqlite'",
    reason="a paused atomic job holds SQLite's only write lock: no other worker can rescue it meanwhile",
)
def test_a_paused_worker_fenced_out_after_a_rescue_keeps_none_of_its_writes(
    runjobs: Callable[..., RunJobs], tmp_path: Path
) -> None:
    assert connection.vendor != "sqlite"
    signal_file = tmp_path / "signal"
    job = atomic_jobs.write_then_sleep.enqueue(3, str(signal_file))
    paused = runjobs("--queue", "atomic=1", **FAST)
    paused_id = worker_id_of(paused)
    wait_until(lambda: signalled(signal_file), what="the effect to be written")
    time.sleep(0.5)  # the recorder writes the start: the paused attempt counts
    paused.signal(signal.SIGSTOP)
    try:
        other = runjobs("--queue", "atomic=1", **FAST)
        other_id = worker_id_of(other)
        wait_until(lambda: completed(job), timeout=20, what="the other worker to rescue and complete it")
    finally:
        paused.signal(signal.SIGCONT)
    # The paused worker wakes inside its sleep, finishes it, and tries to complete.
    wait_until(lambda: fenced_notice(paused.output()), timeout=15, what="the paused worker's fenced log")
    time.sleep(0.5)
    job.refresh_from_db()
    assert (job.state, job.attempt, job.worker_id) == ("completed", 2, other_id), paused.output()
    assert signalled(signal_file) == [f"1 {paused_id}", f"2 {other_id}"]
    assert list(Effect.objects.filter(job_id=job.pk).values_list("attempt", "worker")) == [(2, other_id)]
    # Named for this job and attempt, in either of fenced_notice's two forms.
    path = atomic_jobs.write_then_sleep.path
    fenced = f"djobs job {job.pk} {path} attempt 1 was fenced"
    taken = f"job {job.pk} ({path}) was taken from worker {paused_id} while it ran (now completed, attempt 2)"
    assert fenced in paused.output() or taken in paused.output(), paused.output()


def test_an_exception_after_the_writes_leaves_no_effect_and_no_child_in_a_worker_process(
    runjobs: Callable[..., RunJobs], tmp_path: Path
) -> None:
    signal_file = tmp_path / "signal"
    job = atomic_jobs.write_enqueue_then_fail.enqueue(str(signal_file))
    worker = runjobs("--queue", "atomic=1", **FAST)
    wait_until(
        lambda: Job.objects.filter(pk=job.pk, state="retryable").exists(), timeout=20, what="the failure"
    )
    job.refresh_from_db()
    assert job.errors[-1]["error"] == "RuntimeError: failed after writing, attempt 1", worker.output()
    assert len(signalled(signal_file)) == 1
    assert not Effect.objects.filter(job_id=job.pk).exists()
    assert not Job.objects.filter(path=atomic_jobs.noop.path).exists()


def test_an_atomic_job_longer_than_the_rescue_window_is_not_taken_for_a_dead_worker(
    runjobs: Callable[..., RunJobs], tmp_path: Path
) -> None:
    # On SQLite the job holds the only write lock for 3 s, three times RESCUE_AFTER:
    # its worker's heartbeat cannot land meanwhile, and the other worker's rescuer waits.
    fast = {"DJOBS_RESCUE_AFTER": "1", "DJOBS_HEARTBEAT_INTERVAL": "0.2"}
    job = atomic_jobs.write_then_sleep.enqueue(3, str(tmp_path / "signal"))
    running = runjobs("--queue", "atomic=1", **fast)
    wait_until(lambda: signalled(tmp_path / "signal"), what="the effect to be written")
    other = runjobs("--queue", "atomic=1", **fast)
    wait_until(lambda: completed(job), timeout=20, what="the job to complete")
    time.sleep(1.5)  # a rescuer that misread the pause would act now
    job.refresh_from_db()
    assert (job.state, job.attempt, job.errors) == ("completed", 1, []), running.output()
    assert list(Effect.objects.filter(job_id=job.pk).values_list("attempt", flat=True)) == [1]
    for process in (running, other):
        logged = [line for line in process.output().splitlines() if line.startswith("djobs")]
        assert not [line for line in logged if "database is locked" in line], process.output()
        assert not [line for line in logged if "presumed dead" in line], process.output()
        assert not [line for line in logged if "no heartbeat reached the database" in line], process.output()


@pytest.mark.skipif(
    "connection.vendor == 'sqlite'",
    reason="a paused atomic job holds SQLite's only write lock: no other worker can rescue it meanwhile",
)
def test_a_paused_worker_holding_a_row_lock_is_ended_so_the_rescued_attempt_completes(
    runjobs: Callable[..., RunJobs], tmp_path: Path
) -> None:
    # Without ending the paused worker's session, the rescued attempt waits on the
    # row lock until TCP keepalive (PostgreSQL) or lock_wait_timeout (MariaDB).
    signal_file = tmp_path / "signal"
    lock = Effect.objects.create(job_id=0, attempt=0)
    job = atomic_jobs.write_lock_then_sleep.enqueue(lock.pk, 3, str(signal_file))
    paused = runjobs("--queue", "atomic=1", **FAST)
    paused_id = worker_id_of(paused)
    wait_until(lambda: signalled(signal_file), what="the effect to be written under the row lock")
    time.sleep(0.5)  # the recorder writes the start: the paused attempt counts
    paused.signal(signal.SIGSTOP)
    try:
        other = runjobs("--queue", "atomic=1", **FAST)
        other_id = worker_id_of(other)
        wait_until(lambda: completed(job), timeout=25, what="the rescue and the second attempt past the lock")
    finally:
        paused.signal(signal.SIGCONT)
    try:
        wait_until(lambda: fenced_notice(paused.output()), timeout=15, what="the paused worker's fenced log")
    except AssertionError:
        raise AssertionError(f"no 'was fenced' line; the paused worker said:\n{paused.output()}") from None
    job.refresh_from_db()
    assert (job.state, job.attempt, job.worker_id) == ("completed", 2, other_id), other.output()
    assert list(Effect.objects.filter(job_id=job.pk).values_list("attempt", "worker")) == [(2, other_id)]
    assert signalled(signal_file)[0] == f"1 {paused_id}"


def test_an_atomic_job_timing_out_after_its_writes_leaves_no_effect_and_is_retryable(
    runjobs: Callable[..., RunJobs],
) -> None:
    job = atomic_jobs.write_then_overrun.enqueue()
    worker = runjobs("--queue", "atomic=1", **FAST)
    wait_until(lambda: Job.objects.get(pk=job.pk).errors, timeout=20, what="the timeout")
    worker.signal(signal.SIGKILL)  # no second attempt
    worker.wait(5)
    job.refresh_from_db()
    assert job.errors[0]["attempt"] == 1 and "JobTimeout" in job.errors[0]["error"], worker.output()
    assert job.state in ("retryable", "available", "executing"), job.state
    assert not Effect.objects.filter(job_id=job.pk).exists()


@pytest.mark.skipif(
    "connection.vendor == 'sqlite'",
    reason="the atomic job's transaction holds SQLite's only write lock: the operator's cancel waits for it",
)
def test_an_operator_cancel_of_a_running_atomic_job_rolls_back_its_writes(
    runjobs: Callable[..., RunJobs], tmp_path: Path
) -> None:
    from djobs import operations

    signal_file = tmp_path / "signal"
    job = atomic_jobs.write_then_sleep.enqueue(2, str(signal_file))
    worker = runjobs("--queue", "atomic=1", **FAST)
    wait_until(lambda: signalled(signal_file), what="the effect to be written")
    assert operations.cancel(Job.objects.filter(pk=job.pk)) == 1
    time.sleep(3)  # past the body's end: a completion would have committed by now
    job.refresh_from_db()
    assert job.state == "cancelled", worker.output()
    assert not Effect.objects.filter(job_id=job.pk).exists()
    assert "was fenced" not in worker.output()
