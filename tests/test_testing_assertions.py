"""assert_enqueued / refute_enqueued / all_enqueued: partial matching and readable failures."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from djobs.models import Job
from djobs.testing import ANY_STATE, all_enqueued, assert_enqueued, refute_enqueued
from tests.factories import JobFactory
from tests.testapp import testing_jobs
from tests.testapp.jobs import add, send_email
from tests.testapp.testing_jobs import greet

pytestmark = pytest.mark.django_db


def normalised(message: str) -> str:
    """Replace ids and timestamps, which differ per run, by fixed markers."""
    message = re.sub(r"#\d+", "#ID", message)
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:.+]+", "TIME", message)


def test_assert_enqueued_finds_the_job_by_function_and_returns_it() -> None:
    job = send_email.enqueue("ada@example.com")
    assert assert_enqueued(job=send_email) == job
    assert assert_enqueued(send_email, queue="emails", priority=3).pk == job.pk


def test_job_can_be_named_by_dotted_path_or_by_anything_with_a_module_path() -> None:
    send_email.enqueue("ada@example.com")
    assert_enqueued(job="tests.testapp.jobs.send_email")
    task_like = SimpleNamespace(module_path="tests.testapp.jobs.send_email")
    assert_enqueued(job=task_like, kwargs={"to": "ada@example.com"})


def test_kwargs_match_a_subset_of_the_arguments() -> None:
    greet.enqueue("ada", greeting="hi", punctuation="?")
    assert_enqueued(job=greet, kwargs={"greeting": "hi"})
    assert_enqueued(job=greet, kwargs={"greeting": "hi", "punctuation": "?"})
    refute_enqueued(job=greet, kwargs={"greeting": "hello"})


def test_kwargs_match_by_parameter_name_however_the_call_passed_them() -> None:
    greet.enqueue("ada")
    assert_enqueued(job=greet, kwargs={"name": "ada"})
    # A default the call left out is what the job will run with.
    assert_enqueued(job=greet, kwargs={"name": "ada", "greeting": "hello", "punctuation": "!"})


def test_args_match_when_the_positional_arguments_start_with_them() -> None:
    add.enqueue(1, 2)
    assert_enqueued(job=add, args=[1])
    assert_enqueued(job=add, args=(1, 2))
    refute_enqueued(job=add, args=[2])
    refute_enqueued(job=add, args=[1, 2, 3])


def test_meta_matches_a_subset_recursively() -> None:
    add.using(meta={"tenant": "acme", "trace": {"id": "t1", "span": 2}}).enqueue(1, 1)
    assert_enqueued(job=add, meta={"tenant": "acme"})
    assert_enqueued(job=add, meta={"trace": {"span": 2}})
    refute_enqueued(job=add, meta={"trace": {"span": 3}})
    refute_enqueued(job=add, meta={"other": None})


def test_tags_match_when_the_job_has_every_given_tag() -> None:
    add.using(tags=["billing", "eu"]).enqueue(1, 1)
    assert_enqueued(job=add, tags=["eu"])
    refute_enqueued(job=add, tags=["eu", "us"])


def test_values_compare_as_json_and_booleans_are_not_integers() -> None:
    testing_jobs.note.enqueue("x")
    add.enqueue(True, 0)
    assert_enqueued(job=add, args=(True,))
    refute_enqueued(job=add, args=[1])


def test_scheduled_in_matches_within_the_tolerance() -> None:
    add.using(schedule_in=3600).enqueue(1, 2)
    assert_enqueued(job=add, scheduled_in=3600)
    assert_enqueued(job=add, scheduled_in=timedelta(hours=1), state="scheduled")
    refute_enqueued(job=add, scheduled_in=60)
    refute_enqueued(job=add, scheduled_in=3610)
    assert_enqueued(job=add, scheduled_in=3610, delta=15)


def test_scheduled_at_matches_an_absolute_time() -> None:
    at = timezone.now() + timedelta(days=1)
    add.using(run_at=at).enqueue(1, 2)
    assert_enqueued(job=add, scheduled_at=at)
    refute_enqueued(job=add, scheduled_at=at + timedelta(seconds=5))


def test_only_jobs_waiting_to_run_are_looked_at_unless_a_state_is_given() -> None:
    JobFactory(path=add.path, state=Job.State.COMPLETED)
    refute_enqueued(job=add)
    assert_enqueued(job=add, state="completed")
    assert_enqueued(job=add, state=["completed", "discarded"])
    assert_enqueued(job=add, state=ANY_STATE)
    JobFactory(path=add.path, state=Job.State.RETRYABLE)
    assert_enqueued(job=add)


def test_count_asserts_exactly_that_many_match() -> None:
    add.enqueue_many([(1, 1), (1, 2)])
    assert_enqueued(job=add, args=[1], count=2)
    with pytest.raises(AssertionError, match=r"Expected 1 job\(s\) matching .* found 2"):
        assert_enqueued(job=add, args=[1], count=1)


def test_all_enqueued_returns_the_matching_rows_oldest_first() -> None:
    first = add.enqueue(1, 1)
    send_email.enqueue("ada@example.com")
    second = add.enqueue(1, 2)
    add.enqueue(2, 2)
    assert all_enqueued(job=add, args=[1]) == [first, second]
    assert [job.path for job in all_enqueued(queue="emails")] == [send_email.path]
    assert len(all_enqueued()) == 4


def test_refute_enqueued_fails_listing_the_jobs_that_match() -> None:
    send_email.enqueue("ada@example.com")
    refute_enqueued(job=add)
    with pytest.raises(AssertionError) as failure:
        refute_enqueued(job=send_email, kwargs={"to": "ada@example.com"})
    assert normalised(str(failure.value)) == (
        "Expected no job matching job='tests.testapp.jobs.send_email', kwargs={'to': 'ada@example.com'} "
        "in state available, retryable, scheduled; found 1:\n"
        "  #ID tests.testapp.jobs.send_email('ada@example.com') queue='emails' priority=3 "
        "state='available' scheduled_at=TIME"
    )


def test_failing_assert_enqueued_lists_what_was_enqueued_instead_closest_first() -> None:
    add.enqueue(1, 2)
    send_email.enqueue("ada@example.com")
    send_email.using(schedule_in=600).enqueue("bob@example.com", subject="hi")
    with pytest.raises(AssertionError) as failure:
        assert_enqueued(job=send_email, kwargs={"to": "cy@example.com"}, queue="emails")
    assert normalised(str(failure.value)) == (
        "Expected a job matching job='tests.testapp.jobs.send_email', "
        "kwargs={'to': 'cy@example.com'}, queue='emails' in state available, retryable, scheduled; "
        "found none.\n"
        "Enqueued instead, closest first (3 of 3):\n"
        "  1. #ID tests.testapp.jobs.send_email('bob@example.com', subject='hi') queue='emails' "
        "priority=3 state='scheduled' scheduled_at=TIME\n"
        "       - kwargs['to'] is 'bob@example.com', expected 'cy@example.com'\n"
        "  2. #ID tests.testapp.jobs.send_email('ada@example.com') queue='emails' priority=3 "
        "state='available' scheduled_at=TIME\n"
        "       - kwargs['to'] is 'ada@example.com', expected 'cy@example.com'\n"
        "  3. #ID tests.testapp.jobs.add(1, 2) queue='default' priority=0 state='available' "
        "scheduled_at=TIME\n"
        "       - job is 'tests.testapp.jobs.add', expected 'tests.testapp.jobs.send_email'\n"
        "       - queue is 'default', expected 'emails'\n"
        "       - kwargs['to'] is missing, expected 'cy@example.com'"
    )


def test_failure_message_says_which_state_kept_a_job_from_matching() -> None:
    JobFactory(path=add.path, args=[1, 2], state=Job.State.COMPLETED)
    with pytest.raises(AssertionError) as failure:
        assert_enqueued(job=add, args=[1, 2])
    assert "- state is 'completed', expected 'available' or 'retryable' or 'scheduled'" in str(failure.value)


def test_failure_message_says_when_nothing_was_enqueued_at_all() -> None:
    with pytest.raises(AssertionError) as failure:
        assert_enqueued(job=add)
    assert str(failure.value) == (
        "Expected a job matching job='tests.testapp.jobs.add' in state available, retryable, "
        "scheduled; found none.\nNo jobs were enqueued at all."
    )


def test_failure_message_suggests_a_registered_path_for_a_misspelt_one() -> None:
    add.enqueue(1, 2)
    with pytest.raises(AssertionError) as failure:
        assert_enqueued(job="tests.testapp.jobs.ad")
    assert (
        "Note: 'tests.testapp.jobs.ad' is not a registered @job path. Did you mean 'tests.testapp.jobs.add'?"
    ) in str(failure.value)


def test_scheduled_in_difference_is_explained_in_seconds() -> None:
    add.using(schedule_in=120).enqueue(1, 2)
    with pytest.raises(AssertionError) as failure:
        assert_enqueued(job=add, scheduled_in=60)
    # 60 s apart, less the time between the enqueue and the assertion (tenths under load).
    explained = r"- scheduled_at is .*, \+(5\d|60)\.\ds from the expected .* \(±1s\)"
    assert re.search(explained, str(failure.value))


@pytest.mark.parametrize(
    ("criteria", "error", "message"),
    [
        ({"state": "done"}, ValueError, "state='done' is not a job state"),
        ({"args": "ada"}, TypeError, "args='ada': pass a list"),
        ({"kwargs": [1]}, TypeError, r"kwargs=\[1\]: pass a dict"),
        ({"kwargs": {"when": timezone.now()}}, TypeError, r'kwargs\["when"\] is datetime'),
        ({"tags": "eu"}, TypeError, r"tags='eu': pass a list of strings"),
        ({"scheduled_in": 1, "scheduled_at": timezone.now()}, ValueError, "not both"),
        ({"job": 42}, TypeError, "job=42 is not a job reference"),
        ({"count": 0}, ValueError, r"count=0: use an integer of at least 1 \(refute_enqueued for none\)"),
    ],
)
def test_bad_criteria_raise_an_error_naming_the_value(criteria, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message):
        assert_enqueued(**criteria)
