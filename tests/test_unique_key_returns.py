"""A unique job that comes back to a state its uniqueness covers holds its key again, where free."""

from __future__ import annotations

import pytest
from django.utils import timezone

from djobs import operations
from djobs.db import get_ops
from djobs.models import Job
from djobs.states import states_mask
from djobs.transitions import Transition
from tests.factories import JobFactory, WorkerProcessFactory

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "k" * 64
QUEUED = states_mask(["available", "scheduled"])


def claim_one() -> Job:
    [job] = get_ops().job_claim(queue="default", limit=1, worker_id="w1", now=timezone.now())
    return job


@pytest.fixture(autouse=True)
def worker() -> None:
    WorkerProcessFactory(id="w1")


def test_a_snoozed_job_holds_its_key_again() -> None:
    job = JobFactory(unique_key=KEY, unique_base=KEY, unique_states=QUEUED)
    claimed = claim_one()
    assert Job.objects.get(pk=job.pk).unique_key is None  # executing is not covered
    snooze = Transition("scheduled", "snoozed", scheduled_at=timezone.now(), attempt_delta=-1)
    assert get_ops().job_record_outcomes(worker_id="w1", outcomes=[(claimed, snooze)]) == {job.pk}
    assert Job.objects.get(pk=job.pk).unique_key == KEY


def test_when_another_job_took_the_key_meanwhile_both_stay_and_the_first_has_none() -> None:
    job = JobFactory(unique_key=KEY, unique_base=KEY, unique_states=QUEUED)
    claimed = claim_one()
    other = JobFactory(unique_key=KEY, unique_base=KEY, unique_states=QUEUED, state="scheduled")
    snooze = Transition("scheduled", "snoozed", scheduled_at=timezone.now(), attempt_delta=-1)
    assert get_ops().job_record_outcomes(worker_id="w1", outcomes=[(claimed, snooze)]) == {job.pk}
    keys = dict(Job.objects.values_list("id", "unique_key"))
    assert keys == {job.pk: None, other.pk: KEY}
    assert Job.objects.get(pk=job.pk).state == "scheduled"


def test_a_retried_job_holds_its_key_again() -> None:
    job = JobFactory(state="discarded", unique_key=None, unique_base=KEY, unique_states=QUEUED)
    assert operations.retry(Job.objects.filter(pk=job.pk)) == 1
    assert Job.objects.get(pk=job.pk).unique_key == KEY


def test_a_staged_job_takes_its_key_when_available_is_covered_and_retryable_was_not() -> None:
    available_only = states_mask(["available"])
    job = JobFactory(
        state="retryable",
        scheduled_at=timezone.now(),
        unique_key=None,
        unique_base=KEY,
        unique_states=available_only,
    )
    assert get_ops().job_stage(now=timezone.now(), limit=10) == {"default": 1}
    assert Job.objects.get(pk=job.pk).unique_key == KEY


def test_a_rescued_job_holds_its_key_again_when_available_is_covered() -> None:
    job = JobFactory(unique_key=KEY, unique_base=KEY, unique_states=QUEUED)
    claim_one()
    Job.objects.filter(pk=job.pk).update(worker_id="gone")  # its worker has no row
    [moved] = get_ops().job_rescue(now=timezone.now(), exclude_worker="w1")
    assert (moved.id, moved.state) == (job.pk, "available")
    assert Job.objects.get(pk=job.pk).unique_key == KEY
