"""Batches under several ``runjobs`` processes: the last jobs end everywhere at once, one callback."""

from __future__ import annotations

import pytest

from djobs.batches import batch
from djobs.models import Job
from tests.runjobs_process import RunJobs
from tests.testapp import batch_jobs

REPORT = "tests.testapp.batch_jobs.report"


def run_bursts(processes: int, *args: str) -> None:
    workers = [RunJobs("--burst", *args) for _ in range(processes)]
    try:
        for worker in workers:
            assert worker.wait(120) == 0, worker.output()[-3000:]
    finally:
        for worker in workers:
            worker.stop()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_four_processes_draining_a_10k_job_batch_enqueue_exactly_one_callback_of_each_kind() -> None:
    total = 10_000
    with batch(on_complete=REPORT, on_success=REPORT, description="10k") as b:
        batch_jobs.work.enqueue_many([(i,) for i in range(total)])
    run_bursts(4, "--queue", "default=8")
    row = b.row
    assert row.state == "finished", row
    assert row.counts == {"completed": total, "discarded": 0, "cancelled": 0}
    callbacks = Job.objects.filter(meta__callback_of=b.key)
    assert sorted(callbacks.values_list("meta__batch_callback", flat=True)) == ["on_complete", "on_success"]
    run_bursts(1, "--queue", "default=2")  # a burst may stop just before the callbacks are enqueued
    assert list(callbacks.values_list("state", flat=True)) == ["completed", "completed"]
    assert callbacks.filter(args__1__completed=total).count() == 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_runjobs_finishes_a_self_extending_batch_once(on_postgres: bool) -> None:
    # SQLite has one writer: one process with several threads is how it is run.
    processes = 2 if on_postgres else 1
    with batch(on_complete=REPORT) as b:
        batch_jobs.backfill.enqueue(1, 20)
        batch_jobs.work.enqueue_many([(i,) for i in range(200)])
    for _ in range(3):
        run_bursts(processes, "--queue", "default=4")
        if not Job.objects.filter(state="available").exists():
            break
    row = b.row
    assert (row.state, row.size) == ("finished", 220)
    assert Job.objects.filter(meta__callback_of=b.key).count() == 1
