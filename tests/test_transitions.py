"""decide(): what one attempt's result does to its job, as a pure function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from djobs import Cancel, Discard, JobTimeout, Snooze, UnknownJobError
from djobs.models import Job
from djobs.transitions import decide, storable_result
from djobs.worker.executor import Execution, execute

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make_job(attempt: int = 1, max_attempts: int = 3, path: str = "tests.testapp.jobs.add") -> Job:
    return Job(path=path, attempt=attempt, max_attempts=max_attempts, args=[1, 2])


def failed(exc: BaseException) -> Execution:
    return Execution(exception=exc, traceback="Traceback...")


def test_returned_value_completes_with_the_value_as_result() -> None:
    t = decide(make_job(), Execution(value={"n": 1}), NOW)
    assert (t.state, t.outcome, t.result, t.finished_at, t.error) == (
        "completed",
        "completed",
        {"n": 1},
        NOW,
        None,
    )


def test_tuple_result_is_kept_as_json_gives_it_back() -> None:
    assert storable_result((1, 2)) == [1, 2]


def test_snooze_schedules_the_job_again_and_gives_the_attempt_back() -> None:
    t = decide(make_job(attempt=3, max_attempts=3), Execution(value=Snooze(30)), NOW)
    assert (t.state, t.outcome, t.attempt_delta) == ("scheduled", "snoozed", -1)
    assert t.scheduled_at == NOW + timedelta(seconds=30)
    assert t.error is None


def test_snooze_of_zero_seconds_makes_the_job_available_at_once() -> None:
    t = decide(make_job(), Execution(exception=Snooze(0)), NOW)
    assert (t.state, t.scheduled_at, t.attempt_delta) == ("available", NOW, -1)


def test_cancel_and_discard_are_terminal_with_their_reason() -> None:
    cancelled = decide(make_job(attempt=1), Execution(exception=Cancel("gone")), NOW)
    discarded = decide(make_job(attempt=1), Execution(value=Discard("bad")), NOW)
    assert (cancelled.state, cancelled.error["error"]) == ("cancelled", "Cancelled: gone")
    assert (discarded.state, discarded.error["error"]) == ("discarded", "Discarded: bad")
    assert cancelled.finished_at == discarded.finished_at == NOW


def test_failure_before_the_last_attempt_is_retryable_after_the_default_backoff() -> None:
    t = decide(make_job(attempt=2, max_attempts=5), failed(RuntimeError("boom")), NOW)
    assert (t.state, t.outcome) == ("retryable", "retryable")
    assert t.error == {
        "attempt": 2,
        "at": NOW.isoformat(),
        "error": "RuntimeError: boom",
        "traceback": "Traceback...",
        "exception": "builtins.RuntimeError",
        "worker_id": None,
    }
    delay = (t.scheduled_at - NOW).total_seconds()
    assert 19 * 0.9 <= delay <= 19 * 1.1  # 15 + 2**2, +/- 10%


def test_failure_on_the_last_attempt_discards_the_job() -> None:
    t = decide(make_job(attempt=3, max_attempts=3), failed(RuntimeError("boom")), NOW)
    assert (t.state, t.outcome, t.finished_at) == ("discarded", "exhausted", NOW)
    assert t.error["attempt"] == 3


def test_backoff_given_to_decide_sets_the_delay() -> None:
    job = make_job(attempt=4, max_attempts=10)
    t = decide(job, failed(ValueError()), NOW, backoff=lambda attempt: attempt * 10)
    assert t.scheduled_at == NOW + timedelta(seconds=40)
    assert t.error["error"] == "ValueError"


def test_registered_backoff_of_the_job_function_is_used() -> None:
    job = make_job(attempt=1, path="tests.testapp.worker_jobs.always_fails")
    t = decide(job, failed(RuntimeError("x")), NOW)
    assert t.scheduled_at == NOW


def test_timeout_is_a_failed_attempt_like_any_other() -> None:
    t = decide(make_job(attempt=1), failed(JobTimeout("too slow")), NOW)
    assert t.state == "retryable"
    assert t.error["error"] == "JobTimeout: too slow"


def test_unknown_job_is_discarded_at_once() -> None:
    t = decide(make_job(attempt=1, max_attempts=20), failed(UnknownJobError("x.y")), NOW)
    assert t.state == "discarded"
    assert "No @job function is registered as 'x.y'" in t.error["error"]


def test_execute_runs_the_registered_function_with_json_round_tripped_arguments() -> None:
    job = Job(path="tests.testapp.jobs.echo", args=[(1, 2)], kwargs={"k": (3,)})
    execution = execute(job)
    assert execution.value == {"args": [[1, 2]], "kwargs": {"k": [3]}}
    assert execution.exception is None and not execution.failed


def test_execute_refuses_an_unregistered_path_without_importing_it() -> None:
    execution = execute(Job(path="tests.testapp.not_a_module.func"))
    assert isinstance(execution.exception, UnknownJobError)
    assert execution.failed


def test_execute_captures_an_outcome_raised_by_the_job() -> None:
    execution = execute(Job(path="tests.testapp.worker_jobs.cancels", args=["why"]))
    assert isinstance(execution.outcome, Cancel)
    assert not execution.failed
    assert execution.traceback is None


def test_an_error_entry_names_the_exception_class_and_the_worker() -> None:
    job = Job(path="tests.testapp.jobs.add", attempt=1, max_attempts=3, worker_id="host-1-abc")
    t = decide(job, Execution(exception=KeyError("user"), traceback="tb"), NOW)
    assert t.error is not None
    assert t.error["exception"] == "builtins.KeyError"
    assert t.error["worker_id"] == "host-1-abc"


def test_returning_a_bare_outcome_is_a_failure_that_says_so() -> None:
    from djobs.outcomes import Outcome

    t = decide(make_job(attempt=1), Execution(value=Outcome()), NOW)
    assert t.state == "retryable"
    assert "not an outcome djobs knows" in t.error["error"]
