"""Enqueue-time argument errors name the mistake and the fix, and write nothing."""

from __future__ import annotations

import pytest

from djobs.models import Job
from tests.testapp.jobs import add, echo, sync_user

pytestmark = pytest.mark.django_db


def test_a_mistyped_keyword_is_named_as_unexpected_with_the_closest_parameter() -> None:
    with pytest.raises(TypeError) as caught:
        sync_user.enqueue(usr_id=1)
    assert str(caught.value) == (
        "tests.testapp.jobs.sync_user(user_id, force): got an unexpected keyword argument 'usr_id' "
        "(did you mean 'user_id'?); it takes user_id, force"
    )
    assert not Job.objects.exists()


def test_several_unexpected_keywords_are_all_named() -> None:
    with pytest.raises(
        TypeError, match=r"unexpected keyword arguments 'forse' \(did you mean 'force'\?\), 'xyz'"
    ):
        sync_user.enqueue(1, forse=True, xyz=2)


def test_a_missing_argument_is_still_reported_as_missing() -> None:
    with pytest.raises(TypeError, match=r"add\(a, b\): missing a required argument: 'b'"):
        add.enqueue(1)


def test_a_function_taking_any_keywords_accepts_unknown_names() -> None:
    job = echo.enqueue(anything=1)
    assert Job.objects.get(pk=job.pk).kwargs == {"anything": 1}


def test_an_unknown_using_option_names_only_itself_with_the_closest_option() -> None:
    with pytest.raises(TypeError) as caught:
        add.using(queue="emails", schedule_inn=5)
    message = str(caught.value)
    assert message.startswith("using() got unknown option(s) 'schedule_inn' (did you mean 'schedule_in'?)")
    assert "'queue'" not in message.split(";")[0]


def test_tuples_are_accepted_and_arrive_as_lists_as_documented() -> None:
    job = echo.enqueue((1, 2), pair=("a", ("b", "c")))
    stored = Job.objects.get(pk=job.pk)
    assert stored.args == [[1, 2]]
    assert stored.kwargs == {"pair": ["a", ["b", "c"]]}
