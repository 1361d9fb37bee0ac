"""A unique job that snoozes holds its key again once it is back in a state its uniqueness covers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from djobs.models import Job
from tests.fault_support import FAST, in_state
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import fault_jobs
from tests.testapp.models import Marker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

snoozer = fault_jobs.snoozes_when_told  # unique on "key" while available or scheduled


def test_unique_job_holds_its_key_again_after_a_snooze(runjobs: Callable[..., RunJobs]) -> None:
    Marker.objects.create(name="go")
    first = snoozer.enqueue("k")
    runjobs("--queue", "default=1", **FAST)
    wait_until(lambda: in_state([first], "scheduled"), what="the snooze")
    again = snoozer.enqueue("k")
    assert again.duplicate
    assert again.pk == first.pk
    assert Job.objects.filter(path=snoozer.path).count() == 1


def test_unique_job_whose_key_was_taken_while_it_ran_snoozes_without_error(
    runjobs: Callable[..., RunJobs],
) -> None:
    first = snoozer.enqueue("k")
    worker = runjobs("--queue", "default=1", **FAST)
    wait_until(lambda: Marker.objects.filter(name="snoozer started", job_id=first.pk).exists())
    # Executing is not among its unique states: another job may take the key meanwhile.
    second = snoozer.enqueue("k")
    assert not second.duplicate
    Marker.objects.create(name="go")
    wait_until(lambda: in_state([first, second], "scheduled"), timeout=10, what="both snoozes")
    for job in (first, second):
        job.refresh_from_db()
        assert (job.state, job.errors) == ("scheduled", []), worker.output()
    # One of them holds the key: a third enqueue is a duplicate, not a third row.
    third = snoozer.enqueue("k")
    assert third.duplicate
    assert third.pk in {first.pk, second.pk}
    assert Job.objects.filter(path=snoozer.path).count() == 2
    assert "could not record" not in worker.output()
