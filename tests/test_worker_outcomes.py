"""The dispatcher, run in-process with --burst, records every outcome on the row."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.utils import timezone

from djobs.models import Job
from djobs.worker.runner import run_burst
from tests.testapp import worker_jobs
from tests.testapp.jobs import add

pytestmark = pytest.mark.django_db(transaction=True)


def refresh(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


def test_returned_value_completes_the_job_and_is_kept_as_result() -> None:
    job = add.enqueue(2, 3)
    run_burst({"default": 4})
    job = refresh(job)
    assert job.state == "completed"
    assert job.result == 5
    assert job.attempt == 1
    assert job.finished_at is not None
    assert job.errors == []


def test_runjobs_burst_command_drains_the_queue_and_exits() -> None:
    jobs = add.enqueue_many([(i, i) for i in range(50)])
    call_command("runjobs", "--burst", "--queue", "default=5")
    assert set(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("state", flat=True)) == {
        "completed"
    }
    assert sorted(Job.objects.values_list("result", flat=True)) == sorted(i + i for i in range(50))


def test_result_that_is_not_json_is_kept_as_its_repr_with_a_note() -> None:
    job = worker_jobs.returns_a_set.enqueue()
    run_burst({"default": 1})
    job = refresh(job)
    assert job.state == "completed"
    assert job.result["repr"] == "{1, 2}"
    assert "not JSON-serialisable" in job.result["note"]


def test_failure_appends_an_error_entry_and_retries_after_the_backoff() -> None:
    before = timezone.now()
    job = worker_jobs.fails_with_default_backoff.enqueue()
    run_burst({"default": 1})
    job = refresh(job)
    assert job.state == "retryable"
    assert job.attempt == 1
    [entry] = job.errors
    assert entry["attempt"] == 1
    assert entry["error"] == "ValueError: try again later"
    assert "Traceback" in entry["traceback"] and "try again later" in entry["traceback"]
    # default_backoff(1) is 17 s +/- 10%.
    delay = (job.scheduled_at - before).total_seconds()
    assert 15 <= delay <= 20


def test_failing_job_is_discarded_after_max_attempts() -> None:
    job = worker_jobs.always_fails.enqueue("nope")
    run_burst({"default": 2})  # backoff=0: retried at once until out of attempts
    job = refresh(job)
    assert job.state == "discarded"
    assert job.attempt == 3
    assert [e["attempt"] for e in job.errors] == [1, 2, 3]
    assert all(e["error"] == "RuntimeError: nope" for e in job.errors)
    assert job.finished_at is not None


@pytest.mark.parametrize("job_function", [worker_jobs.snoozes, worker_jobs.raises_snooze])
def test_snoozed_job_does_not_use_up_an_attempt(job_function) -> None:  # type: ignore[no-untyped-def]
    before = timezone.now()
    job = job_function.enqueue(600)
    run_burst({"default": 1})
    job = refresh(job)
    assert job.state == "scheduled"
    assert job.attempt == 0
    assert job.errors == []
    assert 590 <= (job.scheduled_at - before).total_seconds() <= 610


def test_cancel_stops_the_job_for_good_with_its_reason() -> None:
    job = worker_jobs.cancels.enqueue("customer left")
    run_burst({"default": 1})
    job = refresh(job)
    assert job.state == "cancelled"
    assert job.errors[-1]["error"] == "Cancelled: customer left"
    assert job.finished_at is not None


def test_discard_gives_up_on_the_job_with_its_reason() -> None:
    job = worker_jobs.discards.enqueue("bad input")
    run_burst({"default": 1})
    job = refresh(job)
    assert job.state == "discarded"
    assert job.attempt == 1
    assert job.errors[-1]["error"] == "Discarded: bad input"


def test_job_with_takes_context_receives_its_context_first() -> None:
    job = worker_jobs.knows_its_attempt.enqueue("x")
    run_burst({"default": 1})
    job = refresh(job)
    assert job.result == {"label": "x", "attempt": 1, "id": job.id}


def test_unregistered_path_is_discarded_and_nothing_is_imported() -> None:
    import sys

    job = Job.objects.create(path="os.system", args=["touch /tmp/djobs-pwned"])
    other = Job.objects.create(path="tests.testapp.never_imported.run")
    run_burst({"default": 1})
    for row in (refresh(job), refresh(other)):
        assert row.state == "discarded"
        assert row.errors[-1]["error"].startswith("UnknownJobError: No @job function is registered")
    assert "tests.testapp.never_imported" not in sys.modules


def test_only_the_served_queues_are_claimed() -> None:
    email = worker_jobs.noop.using(queue="emails").enqueue()
    default = worker_jobs.noop.enqueue()
    run_burst({"default": 1})
    assert refresh(default).state == "completed"
    assert refresh(email).state == "available"


def test_higher_priority_runs_first() -> None:
    low = worker_jobs.record_run.using(priority=5).enqueue()
    high = worker_jobs.record_run.using(priority=0).enqueue()
    run_burst({"default": 1})
    from tests.testapp.models import JobRun

    assert list(JobRun.objects.order_by("id").values_list("job_id", flat=True)) == [high.id, low.id]


def test_after_terminal_hooks_get_the_jobs_that_finished() -> None:
    from djobs.hooks import TerminalHook, TerminalJob, hooks

    seen: list[TerminalJob] = []
    hooks.add_terminal(TerminalHook(seen.extend))
    try:
        done = worker_jobs.noop.using(meta={"batch_id": "b-1"}).enqueue()
        gave_up = worker_jobs.cancels.enqueue("no")
        later = worker_jobs.snoozes.enqueue(600)
        run_burst({"default": 2})
    finally:
        hooks.remove_terminal(TerminalHook(seen.extend))
    by_id = {job.id: job for job in seen}
    assert by_id[done.id].state == "completed"
    assert by_id[done.id].meta == {"batch_id": "b-1"}
    assert by_id[gave_up.id].state == "cancelled"
    assert later.id not in by_id


def test_signals_report_start_and_outcome_with_duration() -> None:
    from djobs import job_finished, job_started

    started: list[int] = []
    finished: list[tuple[int, str, float]] = []

    def on_start(sender, job, **kwargs):  # type: ignore[no-untyped-def]
        started.append(job.id)

    def on_finish(sender, job, outcome, duration, **kwargs):  # type: ignore[no-untyped-def]
        finished.append((job.id, outcome, duration))

    job_started.connect(on_start)
    job_finished.connect(on_finish)
    try:
        ok = add.enqueue(1, 1)
        bad = worker_jobs.always_fails.enqueue()
        run_burst({"default": 1})
    finally:
        job_started.disconnect(on_start)
        job_finished.disconnect(on_finish)
    assert started.count(ok.id) == 1 and started.count(bad.id) == 3
    outcomes = [(pk, outcome) for pk, outcome, _ in finished]
    assert (ok.id, "completed") in outcomes
    assert [o for pk, o in outcomes if pk == bad.id] == ["retryable", "retryable", "exhausted"]
    assert all(duration >= 0 for _, _, duration in finished)


def test_outcome_that_cannot_be_written_discards_the_job_with_an_error_that_says_why() -> None:
    from djobs.db import get_ops
    from djobs.transitions import Transition
    from djobs.worker.recorder import Recorder
    from tests.factories import WorkerProcessFactory

    ops = get_ops()
    worker = WorkerProcessFactory()
    job = worker_jobs.noop.enqueue()
    [claimed] = ops.job_claim(queue="default", limit=1, worker_id=worker.id, now=timezone.now())
    recorder = Recorder(lambda: ops, worker.id)
    recorder.start()
    unwritable = Transition("completed", "completed", finished_at=timezone.now(), result=object())
    recorder.push(claimed, unwritable)
    recorder.stop(timeout=30)
    row = refresh(job)
    # The same outcome would fail forever: the job ends, and says why.
    assert (row.state, row.result) == ("discarded", None)
    assert row.errors[-1]["error"].startswith("OutcomeNotStored: the database refused this job's outcome")


@pytest.mark.django_db(transaction=True)
def test_a_failing_signal_receiver_does_not_fail_the_job(caplog: pytest.LogCaptureFixture) -> None:
    from djobs import job_finished, job_started

    def broken(**kwargs: object) -> None:
        raise RuntimeError("metrics backend down")

    job_started.connect(broken)
    job_finished.connect(broken)
    try:
        job = add.enqueue(2, 3)
        run_burst({"default": 1})
    finally:
        job_started.disconnect(broken)
        job_finished.disconnect(broken)
    row = Job.objects.get(pk=job.pk)
    assert (row.state, row.result, row.attempt) == ("completed", 5, 1)
    assert "metrics backend down" in caplog.text
