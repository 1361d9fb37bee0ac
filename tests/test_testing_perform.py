"""perform_job runs one job as the worker would and reports how it ended."""

from __future__ import annotations

from typing import Any

import pytest

from djobs import Cancel, Snooze, UnknownJobError
from djobs.models import Job
from djobs.signals import job_finished
from djobs.testing import PerformResult, perform_job
from tests.testapp import testing_jobs, worker_jobs
from tests.testapp.jobs import add, echo
from tests.testapp.testing_jobs import boom, cancel_because, greet, peek, snooze_for

pytestmark = pytest.mark.django_db


def test_returned_value_completes_the_job() -> None:
    result = perform_job(add, [2, 3])
    assert result.completed
    assert result.state == "completed"
    assert result.value == 5
    assert result.result == 5
    assert result.outcome is None and result.exception is None and result.error is None


def test_keyword_arguments_go_in_kwargs_so_they_never_clash_with_options() -> None:
    result = perform_job(greet, ["ada"], {"greeting": "hi", "punctuation": "?"})
    assert result.value == "hi ada?"
    # "queue" here is the job's own argument, not perform_job's option.
    assert perform_job(echo, kwargs={"queue": "x", "attempt": 9}).value == {
        "args": [],
        "kwargs": {"queue": "x", "attempt": 9},
    }


def test_arguments_make_the_json_round_trip_as_on_a_worker() -> None:
    result = perform_job(echo, [(1, 2)], {"nested": {"t": (3,)}})
    assert result.value == {"args": [[1, 2]], "kwargs": {"nested": {"t": [3]}}}


def test_an_argument_json_cannot_keep_is_refused_as_at_enqueue() -> None:
    with pytest.raises(TypeError, match=r"args\[0\] is \{1\} \(set\)"):
        perform_job(echo, [{1}])


def test_wrong_arguments_are_refused_naming_the_signature() -> None:
    with pytest.raises(TypeError, match=r"tests.testapp.jobs.add\(a, b\)"):
        perform_job(add, [1])


def test_snooze_is_reported_with_when_the_job_would_run_again() -> None:
    result = perform_job(snooze_for, [60])
    assert result.snoozed and result.state == "scheduled"
    assert isinstance(result.outcome, Snooze) and result.outcome.seconds == 60
    assert result.scheduled_at is not None


def test_cancel_is_reported_with_its_reason() -> None:
    result = perform_job(cancel_because, ["card expired"])
    assert result.cancelled and result.state == "cancelled"
    assert isinstance(result.outcome, Cancel) and result.outcome.reason == "card expired"
    assert result.error == "Cancelled: card expired"


def test_discard_returned_by_the_job_is_reported() -> None:
    result = perform_job(worker_jobs.discards, ["spam"])
    assert result.discarded and result.state == "discarded" and not result.failed


def test_an_exception_is_a_failed_attempt_that_will_be_retried() -> None:
    result = perform_job(boom, ["gateway down"])
    assert result.failed and result.retryable and result.state == "retryable"
    assert isinstance(result.exception, ValueError)
    assert result.error == "ValueError: gateway down"
    assert result.traceback is not None and "gateway down" in result.traceback
    assert "retryable: ValueError: gateway down" in repr(result)


def test_an_exception_on_the_last_attempt_discards_the_job() -> None:
    result = perform_job(boom, attempt=2)
    assert result.exhausted and result.discarded and result.state == "discarded"


def test_with_safety_false_raises_the_jobs_exception_in_the_test() -> None:
    with pytest.raises(ValueError, match="loud"):
        perform_job(boom, ["loud"], with_safety=False)
    with pytest.raises(ValueError, match="again"):
        perform_job(boom, ["again"]).raise_if_failed()


def test_context_jobs_get_the_attempt_max_attempts_and_meta_given() -> None:
    result = perform_job(peek, ["x"], attempt=3, meta={"tenant": "acme"})
    assert result.value == {
        "label": "x",
        "attempt": 3,
        "max_attempts": 4,
        "meta": {"tenant": "acme"},
        "last": False,
    }
    assert perform_job(peek, ["x"], attempt=2, max_attempts=2).value["last"] is True


def test_an_attempt_past_max_attempts_is_refused_unless_max_attempts_is_raised_too() -> None:
    assert perform_job(peek, ["x"], attempt=7).value["max_attempts"] == 7
    with pytest.raises(ValueError, match=r"attempt=3\) is past max_attempts=2"):
        perform_job(peek, ["x"], attempt=3, max_attempts=2)
    with pytest.raises(ValueError, match=r"attempt=0"):
        perform_job(peek, ["x"], attempt=0)


def test_options_bound_with_using_and_built_jobs_are_accepted() -> None:
    assert perform_job(peek.using(meta={"a": 1}), ["x"]).value["meta"] == {"a": 1}
    assert perform_job(peek.using(queue="other").new("y")).job.queue == "other"
    with pytest.raises(TypeError, match="already holds the arguments"):
        perform_job(peek.new("y"), ["z"])


def test_a_job_can_be_named_by_its_path() -> None:
    assert perform_job("tests.testapp.jobs.add", [1, 1]).value == 2


def test_an_unknown_path_fails_at_once_suggesting_a_registered_one() -> None:
    with pytest.raises(UnknownJobError, match=r"tests\.testapp\.jobs\.ad'") as failure:
        perform_job("tests.testapp.jobs.ad", [1, 1])
    assert failure.value.__notes__ == ["Did you mean 'tests.testapp.jobs.add'?"]


def test_nothing_is_written_to_the_jobs_table() -> None:
    result = perform_job(add, [1, 1])
    assert result.job.pk is None
    assert not Job.objects.exists()


def test_a_non_json_result_is_stored_as_its_repr_like_on_a_worker() -> None:
    result = perform_job(worker_jobs.returns_a_set)
    assert result.value == {1, 2}
    assert result.result["repr"] == "{1, 2}"


def test_the_worker_signals_are_sent() -> None:
    seen: list[Any] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append((kwargs["job"].path, kwargs["outcome"], kwargs["state"]))

    job_finished.connect(receiver)
    try:
        perform_job(testing_jobs.note, ["signal"])
    finally:
        job_finished.disconnect(receiver)
    assert seen == [(testing_jobs.note.path, "completed", "completed")]


def test_a_database_error_in_the_job_leaves_the_test_transaction_usable() -> None:
    result = perform_job(testing_jobs.breaks_the_database)
    assert result.failed and "IntegrityError" in (result.error or "")
    # On PostgreSQL an aborted transaction would fail this query.
    assert Job.objects.filter(path="tests.written.before.error").count() == 0


def test_perform_result_is_public() -> None:
    assert isinstance(perform_job(add, [0, 0]), PerformResult)
