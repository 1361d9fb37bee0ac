"""Testing modes: "inline" runs each job at enqueue, "manual" only inserts; testing_mode switches."""

from __future__ import annotations

import pytest
from django.test import override_settings

from djobs import batch
from djobs.conf import get_settings
from djobs.hooks import TerminalHook, TerminalJob, hooks
from djobs.models import Job
from djobs.testing import assert_enqueued, drain_queue, refute_enqueued, testing_mode
from tests.testapp.jobs import add
from tests.testapp.testing_jobs import (
    RAN,
    batch_done,
    boom,
    cancel_because,
    countdown,
    note,
    peek,
    snooze_for,
    unique_note,
)
from tests.testing_fixtures import either_database  # noqa: F401

pytestmark = pytest.mark.usefixtures("either_database")


def test_inline_enqueue_returns_the_job_already_run() -> None:
    with testing_mode("inline"):
        job = add.enqueue(2, 3)
    assert (job.state, job.result, job.attempt) == ("completed", 5, 1)
    assert job.finished_at is not None
    assert Job.objects.get(pk=job.pk).state == "completed"


def test_inline_runs_every_job_of_enqueue_many_in_order() -> None:
    with testing_mode("inline"):
        jobs = note.enqueue_many([("a",), ("b",), ("c",)])
    assert [job.state for job in jobs] == ["completed"] * 3
    assert RAN == ["a", "b", "c"]


def test_inline_runs_jobs_scheduled_for_later_at_once() -> None:
    with testing_mode("inline"):
        job = note.using(schedule_in=3600).enqueue("later")
    assert job.state == "completed" and RAN == ["later"]


def test_inline_context_jobs_run_as_their_first_attempt() -> None:
    with testing_mode("inline"):
        job = peek.using(meta={"k": "v"}).enqueue("x")
    assert job.result == {"label": "x", "attempt": 1, "max_attempts": 4, "meta": {"k": "v"}, "last": False}


def test_inline_outcomes_are_recorded_on_the_row() -> None:
    with testing_mode("inline"):
        snoozed = snooze_for.enqueue(60)
        cancelled = cancel_because.enqueue("no")
    assert (snoozed.state, snoozed.attempt) == ("scheduled", 0)
    assert cancelled.state == "cancelled"
    assert cancelled.errors[0]["error"] == "Cancelled: no"


def test_inline_failure_is_recorded_then_raised_out_of_enqueue() -> None:
    with testing_mode("inline"), pytest.raises(ValueError, match="down"):
        boom.enqueue("down")
    job = Job.objects.get(path=boom.path)
    assert job.state == "retryable" and job.errors[0]["error"] == "ValueError: down"


def test_jobs_enqueued_by_an_inline_job_run_after_it_returns() -> None:
    with testing_mode("inline"):
        job = countdown.enqueue(3)
    assert job.state == "completed"
    assert RAN == [3, 2, 1, 0]
    assert Job.objects.filter(path=countdown.path, state="completed").count() == 4


def test_deep_recursion_inline_does_not_exhaust_the_stack() -> None:
    with testing_mode("inline"):
        countdown.enqueue(400)
    assert len(RAN) == 401


def test_an_inline_duplicate_of_a_unique_job_is_returned_not_run() -> None:
    with testing_mode("inline"):
        first = unique_note.enqueue("k")
        second = unique_note.enqueue("k")
    assert second.duplicate and second.pk == first.pk
    assert RAN == ["k"]


def test_inline_terminal_outcomes_reach_the_after_terminal_hooks() -> None:
    seen: list[TerminalJob] = []
    hooks.add_terminal(TerminalHook(seen.extend))
    try:
        with testing_mode("inline"):
            job = note.using(meta={"batch_id": "b"}).enqueue("x")
    finally:
        hooks.remove_terminal(TerminalHook(seen.extend))
    assert seen == [TerminalJob(job.pk, "completed", "testing", {"batch_id": "b"})]


def test_manual_mode_inserts_jobs_and_runs_nothing() -> None:
    with testing_mode("manual"):
        job = note.enqueue("x")
    assert job.state == "available" and RAN == []
    assert_enqueued(job=note, args=["x"])
    assert drain_queue("testing") == {"completed": 1}


def test_testing_mode_switches_inside_one_test_and_restores_the_setting() -> None:
    before = get_settings()
    with testing_mode("inline"):
        assert get_settings().TESTING == "inline"
        # The rest of DJOBS is kept.
        assert get_settings().QUEUES == before.QUEUES
        note.enqueue("ran")
        with testing_mode("manual"):
            note.enqueue("waits")
    assert get_settings().TESTING == before.TESTING
    assert RAN == ["ran"]
    assert_enqueued(job=note, args=["waits"])
    refute_enqueued(job=note, args=["ran"])


@testing_mode("inline")
def test_testing_mode_is_also_a_decorator() -> None:
    assert add.enqueue(1, 1).result == 2


def test_the_inline_setting_works_through_override_settings_too() -> None:
    with override_settings(DJOBS={"TESTING": "inline"}):
        assert add.enqueue(4, 4).state == "completed"


def test_testing_mode_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match=r"testing_mode\('sync'\): use 'manual', 'inline' or None"):
        testing_mode("sync")


def test_a_batch_of_inline_jobs_fires_its_callback_inline() -> None:
    with testing_mode("inline"), batch(on_complete=batch_done):
        note.enqueue("a")
        note.enqueue("b")
    assert RAN == ["a", "b", ("batch", {"completed": 2})]
