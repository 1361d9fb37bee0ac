"""Durable steps and iterations under real worker processes: SIGTERM, SIGKILL, errors, retries."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable

import pytest

from djobs.durable.models import JobProgress
from djobs.models import Job
from tests.fault_support import FAST
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import durable_jobs as dj
from tests.testapp.models import Marker, Row, RowVisit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def rows(count: int) -> list[str]:
    return [str(row.pk) for row in Row.objects.bulk_create([Row(n=i) for i in range(count)])]


def visits(job: Job) -> Counter[str]:
    return Counter(RowVisit.objects.filter(job_id=job.pk).values_list("row", flat=True))


def visited(job: Job) -> int:
    return RowVisit.objects.filter(job_id=job.pk).count()


def state_of(job: Job) -> str:
    return Job.objects.values_list("state", flat=True).get(pk=job.pk)


def test_a_step_that_failed_runs_again_and_the_one_before_it_does_not(
    runjobs: Callable[..., RunJobs],
) -> None:
    job = dj.three_steps.enqueue()
    worker = runjobs("--queue", "default=1")
    wait_until(lambda: state_of(job) == "completed", timeout=30, what="the second attempt")
    job.refresh_from_db()
    assert job.attempt == 2, worker.output()
    assert job.result == ["one done", "two done", "three done"]
    counts = Counter(Marker.objects.filter(job_id=job.pk).values_list("name", flat=True))
    assert counts == {"one": 1, "two": 2, "three": 1}


def sigterm_mid_way(runjobs: Callable[..., RunJobs], job: Job, after: int) -> RunJobs:
    """Let a worker process ``after`` rows of ``job``, SIGTERM it, check the job came back; return it."""
    first = runjobs("--queue", "default=2")
    wait_until(lambda: visited(job) >= after, timeout=60, what="the first worker to be well into the rows")
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0, first.output()
    job.refresh_from_db()
    # Interrupted, not released after the grace period: available at once, the attempt given back.
    assert (job.state, job.attempt, job.errors) == ("available", 0, []), first.output()
    assert "interrupted" in first.output()
    return first


def finish_elsewhere(runjobs: Callable[..., RunJobs], job: Job) -> RunJobs:
    second = runjobs("--queue", "default=2")
    wait_until(lambda: state_of(job) == "completed", timeout=60, what="the second worker to finish")
    job.refresh_from_db()
    return second


def test_sigterm_during_each_stops_after_the_item_and_another_worker_finishes_every_row_exactly_once(
    runjobs: Callable[..., RunJobs],
) -> None:
    pks = rows(2000)
    job = dj.visit_rows.enqueue(pause=0.002)
    sigterm_mid_way(runjobs, job, after=300)
    done_before = visited(job)
    assert 300 <= done_before < 2000
    assert JobProgress.objects.get(job_id=job.pk).iterations["rows"]["items"] == done_before
    second = finish_elsewhere(runjobs, job)
    assert (job.attempt, job.result) == (1, 2000 - done_before), second.output()
    assert visits(job) == Counter(pks)  # every row once: none skipped, none repeated
    assert JobProgress.objects.get(job_id=job.pk).interruptions == 1


def test_sigkill_during_each_resumes_from_the_last_checkpoint_repeating_at_most_that_many_rows(
    runjobs: Callable[..., RunJobs],
) -> None:
    every = 50
    pks = rows(2000)
    job = dj.visit_rows.enqueue(pause=0.002, every=every)
    first = runjobs("--queue", "default=1", **FAST)
    wait_until(lambda: visited(job) >= 500, timeout=60, what="the first worker to be well into the rows")
    first.signal(signal.SIGKILL)
    first.wait(10)
    saved = JobProgress.objects.get(job_id=job.pk).iterations["rows"]["items"]
    assert saved >= 500 - every - 1, "checkpoints were written while the job ran"
    second = runjobs("--queue", "default=1", **FAST)
    wait_until(lambda: state_of(job) == "completed", timeout=90, what="the rescue and the second attempt")
    seen = visits(job)
    assert set(seen) == set(pks), second.output()  # none skipped
    twice = sum(1 for count in seen.values() if count > 1)
    assert 1 <= twice <= every + 1  # only the rows after the last checkpoint (and the one in flight)
    assert max(seen.values()) == 2


def test_time_based_checkpoints_are_written_by_the_progress_writer_thread_while_the_job_runs(
    runjobs: Callable[..., RunJobs],
) -> None:
    pks = rows(2000)
    job = dj.visit_rows.enqueue(pause=0.002, seconds=0.5)
    first = runjobs("--queue", "default=1", **FAST)
    saved = JobProgress.objects.filter(job_id=job.pk, iterations__rows__items__gt=0)
    wait_until(saved.exists, timeout=30, what="a checkpoint written while the job runs")
    wait_until(lambda: visited(job) >= 800, timeout=60, what="the first worker to be well into the rows")
    first.signal(signal.SIGKILL)
    first.wait(10)
    assert state_of(job) == "executing"  # killed: nothing handed it back
    second = runjobs("--queue", "default=1", **FAST)
    wait_until(lambda: state_of(job) == "completed", timeout=90, what="the rescue and the second attempt")
    seen = visits(job)
    assert set(seen) == set(pks), second.output()
    assert max(seen.values()) == 2  # the rows since the last half-second checkpoint ran twice


def test_an_error_on_one_item_is_retried_after_the_backoff_and_the_iteration_resumes_at_it(
    runjobs: Callable[..., RunJobs],
) -> None:
    job = dj.paged_keys.enqueue(300, fail_at="item-150")
    worker = runjobs("--queue", "default=1")
    wait_until(lambda: state_of(job) == "completed", timeout=30, what="the retry to finish")
    job.refresh_from_db()
    assert job.attempt == 2, worker.output()
    assert job.errors[0]["error"] == "RuntimeError: item-150 fails on attempt 1"
    seen = visits(job)
    assert set(seen) == {f"item-{i}" for i in range(300)}
    assert set(seen.values()) == {1}
    attempts = dict(RowVisit.objects.filter(job_id=job.pk).values_list("row", "attempt"))
    assert (attempts["item-149"], attempts["item-150"]) == (1, 2)


def test_sigterm_during_an_async_aeach_hands_the_job_back_and_it_resumes(
    runjobs: Callable[..., RunJobs],
) -> None:
    pks = rows(600)
    job = dj.avisit_rows.enqueue(pause=0.005)
    sigterm_mid_way(runjobs, job, after=100)
    second = finish_elsewhere(runjobs, job)
    assert visits(job) == Counter(pks), second.output()
