"""Pruning never deletes the jobs of an unfinished batch; a finished batch keeps its counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from djobs.batches import batch
from djobs.batches.completion import flush
from djobs.maintenance.pruner import Pruner, PrunerConfig
from djobs.models import Job
from djobs.worker.runner import run_burst
from tests.factories import BatchFactory, JobFactory
from tests.testapp import batch_jobs

RETAIN_NOTHING = PrunerConfig(retention={"completed": 0, "discarded": 0, "cancelled": 0})


def old_finished_job(state: str, **meta: str) -> Job:
    job: Job = JobFactory(state=state, meta=meta, finished_at=timezone.now() - timedelta(days=30))
    return job


@pytest.mark.django_db
@pytest.mark.parametrize("batch_state", ["open", "running"])
def test_pruner_keeps_the_finished_jobs_of_a_batch_that_is_not_finished(batch_state: str) -> None:
    b = BatchFactory(state=batch_state)
    kept = [old_finished_job(state, batch_id=str(b.pk)) for state in ("completed", "discarded", "cancelled")]
    alone = old_finished_job("completed")
    Pruner(RETAIN_NOTHING).run_once()
    assert set(Job.objects.values_list("pk", flat=True)) == {j.pk for j in kept}
    assert not Job.objects.filter(pk=alone.pk).exists()


@pytest.mark.django_db
def test_pruner_deletes_the_jobs_of_a_finished_batch() -> None:
    b = BatchFactory(state="finished", counts={"completed": 1, "discarded": 0, "cancelled": 0})
    old_finished_job("completed", batch_id=str(b.pk))
    Pruner(RETAIN_NOTHING).run_once()
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_pruned_finished_batch_keeps_its_counts_on_its_row() -> None:
    with batch(description="pruned later") as b:
        batch_jobs.work.enqueue_many([(i,) for i in range(3)])
        batch_jobs.discards.enqueue(3)
    with batch() as pending:
        batch_jobs.work.using(schedule_in=3600).enqueue(4)
        batch_jobs.work.enqueue(5)
    run_burst({"default": 2})
    flush()  # the worker's recorder hands batch checks to a thread of their own
    Job.objects.update(finished_at=timezone.now() - timedelta(days=30))
    Pruner(RETAIN_NOTHING).run_once()
    assert not Job.objects.filter(meta__batch_id=b.key).exists()
    assert b.row.counts == {"completed": 3, "discarded": 1, "cancelled": 0}
    # The other batch is still running: its finished job is kept for its count.
    assert Job.objects.filter(meta__batch_id=pending.key).count() == 2
