"""The worker's progress writes beside its heartbeat: never in the way of a beat, never dropped."""

from __future__ import annotations

import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from djobs.db import get_ops
from djobs.durable.models import JobProgress
from djobs.durable.progress import SAVES, Progress
from djobs.models import Job
from djobs.worker.heartbeat import Heartbeat
from tests.factories import JobFactory, WorkerProcessFactory

pytestmark = pytest.mark.django_db(transaction=True)


def executing_job() -> Job:
    WorkerProcessFactory(id="w1")
    return JobFactory(state=Job.State.EXECUTING, worker_id="w1", attempt=1)


def handed_over(job: Job, cursor: int) -> Progress:
    progress = Progress(job, get_ops(), None, atomic=False)
    it = progress.iteration("rows")
    it.last, it.items = cursor, cursor
    it.hand_over()
    SAVES.hand_over(progress)
    return progress


def saved_cursor(job: Job) -> object:
    # None until the writer thread's save lands (the row may exist without the iteration yet).
    row = JobProgress.objects.filter(job_id=job.pk).first()
    return row.iterations.get("rows", {}).get("cursor") if row else None


def wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite has one writer: any write waits, the beat's too"
)
def test_a_progress_write_waiting_on_a_row_lock_does_not_delay_the_beats() -> None:
    job = executing_job()
    get_ops().progress_save(
        job_id=job.pk, attempt=1, worker_id="w1", steps=[], iterations={}, interruptions=0, now=timezone.now()
    )
    beat = Heartbeat(get_ops(), worker_id="w1", hostname="h", queues={}, interval=0.2, rescue_after=60)
    beat.start()
    try:
        with transaction.atomic():
            JobProgress.objects.select_for_update().get(job_id=job.pk)  # the writer's UPDATE waits
            progress = handed_over(job, 7)
            before = beat.beats
            time.sleep(1.5)
            assert beat.beats - before >= 4  # about 7 beats in 1.5 s at 0.2 s
        assert wait_for(lambda: saved_cursor(job) == 7)
    finally:
        beat.stop()
        SAVES.drop(progress)


def test_a_progress_save_that_fails_is_queued_again_and_written_at_the_next_try() -> None:
    job = executing_job()
    progress = handed_over(job, 3)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE djobs_job_progress RENAME TO djobs_job_progress_away")
    try:
        assert SAVES.write() == 0  # the table is away: the save fails
        assert SAVES.pending
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE djobs_job_progress_away RENAME TO djobs_job_progress")
    assert SAVES.write() == 1
    assert saved_cursor(job) == 3
    assert not SAVES.pending
    SAVES.drop(progress)


@pytest.mark.parametrize(("attempt", "worker"), [(1, "w1"), (2, "w2")])
def test_a_stale_attempts_progress_save_is_dropped_whether_the_row_exists_or_not(
    attempt: int, worker: str
) -> None:
    job = executing_job()
    Job.objects.filter(pk=job.pk).update(attempt=2)  # rescued and claimed again: attempt 2 on w1
    ops, now = get_ops(), timezone.now()
    save = dict(job_id=job.pk, steps=[], interruptions=0, now=now)
    assert not ops.progress_save(attempt=attempt, worker_id=worker, iterations={"stale": 1}, **save)
    assert not JobProgress.objects.filter(job_id=job.pk).exists()  # the insert is fenced
    assert ops.progress_save(attempt=2, worker_id="w1", iterations={"live": 1}, **save)
    assert not ops.progress_save(attempt=attempt, worker_id=worker, iterations={"stale": 2}, **save)
    assert JobProgress.objects.get(job_id=job.pk).iterations == {"live": 1}  # so is the update
