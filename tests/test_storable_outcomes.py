"""Outcomes every database can store: NULs and lone surrogates escaped, refused outcomes isolated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from djobs.db import get_ops
from djobs.models import Job
from djobs.storable import storable_text, storable_value
from djobs.transitions import Transition, error_entry, storable_result
from djobs.worker.recorder import Recorder
from tests.factories import JobFactory, WorkerProcessFactory

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_nul_is_stored_as_backslash_text() -> None:
    assert storable_text("a\x00b") == "a\\x00b"


def test_a_lone_surrogate_is_stored_as_backslash_text() -> None:
    assert storable_text("x\ud800y") == "x\\ud800y"


def test_text_without_bad_characters_is_returned_unchanged() -> None:
    text = "plain \u00e9 \U0001f600 \\u0000 is only an escaped backslash here"
    assert storable_text(text) is text


def test_bad_characters_are_escaped_at_any_depth_keys_included() -> None:
    value = {"k\x00": ["ok", {"deep": "x\udfffy"}], "n": 1}
    assert storable_value(value) == {"k\\x00": ["ok", {"deep": "x\\udfffy"}], "n": 1}


def test_results_and_error_entries_are_made_storable() -> None:
    assert storable_result(["a\x00"]) == ["a\\x00"]
    assert storable_result("a\x00") == "a\\x00"
    entry = error_entry(1, NOW, "ValueError: a\x00b", "Traceback ... x\ud800")
    assert (entry["error"], entry["traceback"]) == ("ValueError: a\\x00b", "Traceback ... x\\ud800")


@pytest.mark.django_db(transaction=True)
def test_an_outcome_the_database_refuses_is_discarded_alone_and_the_rest_are_recorded() -> None:
    ops = get_ops()
    WorkerProcessFactory(id="w1")
    for _ in range(5):
        JobFactory()
    claimed = ops.job_claim(queue="default", limit=5, worker_id="w1", now=timezone.now())
    recorder = Recorder(lambda: ops, "w1")
    now = timezone.now()
    batch = [(job, Transition("completed", "completed", finished_at=now, result=job.id)) for job in claimed]
    # An attempt change no database column can hold makes this one outcome fail on data.
    poison = claimed[2]
    batch[2] = (poison, Transition("completed", "completed", finished_at=now, attempt_delta=2**70))
    recorder._pending = len(batch)
    recorder._write(ops, batch, stopping=False)
    rows = dict(Job.objects.values_list("id", "state"))
    assert rows.pop(poison.id) == "discarded"
    assert set(rows.values()) == {"completed"}
    error = Job.objects.get(pk=poison.id).errors[-1]
    assert error["error"].startswith("OutcomeNotStored: the database refused this job's outcome (completed)")
    assert error["exception"] == "djobs.exceptions.OutcomeNotStored"
    assert recorder.pending == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_nul_that_reaches_jsonb_unescaped_fails_only_its_own_outcome() -> None:
    ops = get_ops()
    WorkerProcessFactory(id="w1")
    for _ in range(3):
        JobFactory()
    claimed = ops.job_claim(queue="default", limit=3, worker_id="w1", now=timezone.now())
    recorder = Recorder(lambda: ops, "w1")
    now = timezone.now()
    # Built by hand, past the escaping decide() does: what jsonb itself refuses.
    results = ["fine", "a\x00b", "also fine"]
    batch = [
        (job, Transition("completed", "completed", finished_at=now, result=result))
        for job, result in zip(claimed, results, strict=True)
    ]
    recorder._pending = len(batch)
    recorder._write(ops, batch, stopping=False)
    states = {pk: (state, result) for pk, state, result in Job.objects.values_list("id", "state", "result")}
    assert states[claimed[0].id] == ("completed", "fine")
    assert states[claimed[2].id] == ("completed", "also fine")
    assert states[claimed[1].id] == ("discarded", None)


@pytest.mark.django_db(transaction=True)
def test_a_recorder_round_that_fails_hands_its_outcomes_back_and_the_thread_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    import time

    ops = get_ops()
    WorkerProcessFactory(id="w1")
    JobFactory()
    JobFactory()
    first, second = ops.job_claim(queue="default", limit=2, worker_id="w1", now=timezone.now())
    recorder = Recorder(lambda: ops, "w1")
    failures = []

    def broken_sleep(seconds: float) -> None:  # as time.sleep failed under faketime
        failures.append(seconds)
        raise OSError("sleep failed")

    monkeypatch.setattr("djobs.worker.recorder.time.sleep", broken_sleep)
    recorder.start()
    recorder.push(first, Transition("completed", "completed", finished_at=timezone.now(), result=1))
    # (time.sleep is the patched one here too: wait on an event instead.)
    deadline = time.monotonic() + 10
    while recorder.pending and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    monkeypatch.undo()
    assert failures and recorder.alive and recorder.pending == 0
    assert Job.objects.get(pk=first.pk).state == "available"  # handed back, runs again
    recorder.push(second, Transition("completed", "completed", finished_at=timezone.now(), result=2))
    recorder.stop(timeout=10)
    assert Job.objects.get(pk=second.pk).state == "completed"
