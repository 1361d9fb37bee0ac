"""Bad input at the enqueue door: one clear answer on every database, and nothing written.

Each test runs on SQLite and on PostgreSQL (DATABASE_URL picks): a value one
database would store and the other refuse is refused by djobs on both, with an
error naming its path and the fix.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse

import djobs
from djobs import Call
from djobs.batches import batch, callback
from djobs.checks import check_settings
from djobs.conf import validate
from djobs.db import get_ops
from djobs.models import Batch, Job, PeriodicSchedule
from djobs.periodic.forms import PeriodicScheduleForm
from djobs.serialization import MAX_DEPTH, NotJSONError, UnstorableValueError, check_json
from tests.factories import PeriodicScheduleFactory
from tests.testapp import batch_jobs
from tests.testapp.jobs import add, echo

try:
    from tests.testapp import tasks as django_tasks
except ImportError:  # django.tasks needs Django 6.0+ or the backport
    django_tasks = None  # type: ignore[assignment]

pytestmark = pytest.mark.django_db

needs_tasks = pytest.mark.skipif(django_tasks is None, reason="django.tasks is not installed")


def nested(levels: int) -> Any:
    """Return ``levels`` lists inside one another: nested(2) == [[0]]."""
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


NUL = "a\x00b"
SURROGATE = "x\ud800y"

# The table of the issue: each value, the error every database gives, and what it names.
BAD_ARGUMENTS = [
    pytest.param(float("nan"), NotJSONError, "args[0] is nan", id="nan"),
    pytest.param(float("inf"), NotJSONError, "args[0] is inf", id="inf"),
    pytest.param({1: "a"}, NotJSONError, "args[0] key 1 (int)", id="int-key"),
    pytest.param(NUL, UnstorableValueError, "args[0] is 'a\\x00b', which holds a NUL", id="nul"),
    pytest.param({"k\x00": 1}, UnstorableValueError, "args[0] has the key 'k\\x00'", id="nul-key"),
    pytest.param(SURROGATE, UnstorableValueError, "lone surrogate ('\\ud800' at index 1)", id="surrogate"),
    pytest.param({SURROGATE: 1}, UnstorableValueError, "args[0] has the key", id="surrogate-key"),
    pytest.param(nested(5000), UnstorableValueError, f"more than {MAX_DEPTH} levels deep", id="5000-deep"),
]


# -- single enqueue ------------------------------------------------------------


@pytest.mark.parametrize(("value", "error", "text"), BAD_ARGUMENTS)
def test_each_bad_argument_is_refused_by_djobs_before_anything_is_written(
    value: Any, error: type[Exception], text: str
) -> None:
    with pytest.raises(error) as excinfo:
        echo.enqueue(value)
    assert text in str(excinfo.value)
    assert isinstance(excinfo.value, djobs.DjobsError)
    assert Job.objects.count() == 0


def test_the_errors_are_the_type_and_value_errors_callers_already_catch() -> None:
    assert issubclass(NotJSONError, TypeError)
    assert issubclass(UnstorableValueError, ValueError)


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda: echo.enqueue(note=[0, 1, 2, NUL]), 'kwargs["note"][3]'),
        (lambda: echo.enqueue(1, {"k": NUL}), 'args[1]["k"]'),
        (lambda: echo.enqueue([{"deep": {"er": [SURROGATE]}}]), 'args[0][0]["deep"]["er"][0]'),
        (lambda: echo.enqueue(data=nested(MAX_DEPTH + 1)), 'kwargs["data"][0][0]'),
    ],
)
def test_the_error_names_the_path_of_the_offending_value(call: Any, path: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        call()
    assert f"{path}" in str(excinfo.value)
    assert Job.objects.count() == 0


def test_the_nul_error_says_what_to_do_instead() -> None:
    with pytest.raises(UnstorableValueError) as excinfo:
        echo.enqueue(NUL)
    message = str(excinfo.value)
    assert "PostgreSQL cannot store a NUL" in message and "on every database" in message
    assert "base64" in message and "id" in message


def test_a_lone_surrogate_error_says_to_decode_the_bytes_properly() -> None:
    with pytest.raises(UnstorableValueError, match="Decode the bytes with their real encoding"):
        echo.enqueue(SURROGATE)


def test_nesting_up_to_the_limit_is_stored_and_comes_back_as_given() -> None:
    if get_ops().json_max_depth is not None:
        pytest.skip("this database keeps JSON less deep than djobs allows (the test below)")
    job = echo.enqueue(nested(MAX_DEPTH))
    assert Job.objects.get(pk=job.pk).args == [nested(MAX_DEPTH)]


def test_nesting_past_the_databases_own_limit_is_refused_naming_it() -> None:
    limit = get_ops().json_max_depth
    if limit is None:
        pytest.skip("this database keeps JSON as deep as djobs allows")
    job = echo.enqueue(nested(limit - 1))  # with args' own list: the limit exactly
    assert Job.objects.get(pk=job.pk).args == [nested(limit - 1)]
    with (
        transaction.atomic(),
        pytest.raises(UnstorableValueError, match=f"args of a tests.testapp.jobs.echo job .* {limit} levels"),
    ):
        echo.enqueue(nested(limit))
    assert Job.objects.count() == 1


def test_one_level_past_the_limit_is_refused() -> None:
    with pytest.raises(UnstorableValueError, match=f"args\\[0\\].* more than {MAX_DEPTH} levels deep"):
        echo.enqueue(nested(MAX_DEPTH + 1))
    assert Job.objects.count() == 0


def test_a_value_that_contains_itself_is_refused_as_too_deep_not_a_recursion_error() -> None:
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(UnstorableValueError, match="contains itself"):
        echo.enqueue(looped)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("smile \U0001f600 caf\u00e9", id="emoji-and-accents"),
        pytest.param("\ud83d\ude00", id="surrogate-pair-as-two-code-points"),
        pytest.param("a literal \\u0000 and \\ud800 in text", id="escape-lookalikes"),
        pytest.param({"nested": [("tuple", 1)], "\u00e9": None}, id="tuples-and-unicode-keys"),
    ],
)
def test_text_that_every_database_stores_is_accepted_and_read_back(value: Any) -> None:
    job = echo.enqueue(value)
    assert Job.objects.get(pk=job.pk).args == [json.loads(json.dumps(value))]


def test_a_nul_in_meta_is_refused_through_using() -> None:
    with pytest.raises(UnstorableValueError, match=r'meta\["note"\] is'):
        echo.using(meta={"note": NUL}).enqueue(1)
    assert Job.objects.count() == 0


def test_a_bad_argument_is_refused_through_using_too() -> None:
    with pytest.raises(UnstorableValueError, match=r"args\[0\]"):
        echo.using(queue="other", priority=5).enqueue(NUL)
    assert Job.objects.count() == 0


# -- size ----------------------------------------------------------------------


def test_a_50_mb_argument_is_refused_by_default_saying_why_and_what_to_do() -> None:
    with pytest.raises(UnstorableValueError) as excinfo:
        echo.enqueue("x" * (50 * 1024 * 1024))
    message = str(excinfo.value)
    assert "args[0], takes 52,428,802" in message
    assert "DJOBS['MAX_ARGUMENTS_BYTES'] (1,048,576)" in message
    assert "Every claim of the job fetches its arguments again" in message and "pass its id" in message
    assert Job.objects.count() == 0


@override_settings(DJOBS={"MAX_ARGUMENTS_BYTES": 22})
def test_the_limit_counts_args_and_kwargs_in_utf8_bytes_exactly_the_limit_passes() -> None:
    # ["ééééé"] is 14 bytes of compact UTF-8 JSON (each é is 2), {"k":""} is 8: 22.
    echo.enqueue("\u00e9" * 5, k="")
    largest = r"take 23 bytes of JSON \(the largest, args\[0\], takes 12\)"
    with pytest.raises(UnstorableValueError, match=largest):
        echo.enqueue("\u00e9" * 5, k="x")
    assert Job.objects.count() == 1


@override_settings(DJOBS={"MAX_ARGUMENTS_BYTES": None})
def test_none_turns_the_size_limit_off() -> None:
    job = echo.enqueue("x" * (2 * 1024 * 1024))
    assert len(Job.objects.get(pk=job.pk).args[0]) == 2 * 1024 * 1024


@pytest.mark.parametrize("bad", [0, -1, "1MB", 1.5, True])
def test_a_bad_size_setting_is_a_system_check_error(bad: Any) -> None:
    problems = [p for p in validate({"MAX_ARGUMENTS_BYTES": bad}) if p.key == "MAX_ARGUMENTS_BYTES"]
    assert [p.id for p in problems] == ["djobs.E003"]
    assert f"DJOBS['MAX_ARGUMENTS_BYTES'] is {bad!r}" in problems[0].message
    assert "None for no limit" in problems[0].message


def test_none_and_positive_integers_are_valid_size_settings() -> None:
    assert validate({"MAX_ARGUMENTS_BYTES": None}) == []
    assert validate({"MAX_ARGUMENTS_BYTES": 10}) == []


# -- enqueue_many ----------------------------------------------------------------


def test_one_nul_item_among_100_refuses_the_whole_call_naming_its_position() -> None:
    items: list[Any] = [(i,) for i in range(100)]
    items[37] = (NUL,)
    with pytest.raises(UnstorableValueError, match=r"enqueue_many item 37: args\[0\] is 'a\\x00b'"):
        echo.enqueue_many(items)
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    ("item", "text"),
    [
        ({"note": SURROGATE}, 'enqueue_many item 2: kwargs["note"]'),
        (Call(1, data=nested(5000)), 'enqueue_many item 2: kwargs["data"]'),
        ((float("nan"),), "enqueue_many item 2: args[0] is nan"),
    ],
)
def test_enqueue_many_names_the_item_and_the_path_for_every_kind_of_bad_input(item: Any, text: str) -> None:
    with pytest.raises((TypeError, ValueError)) as excinfo:
        echo.enqueue_many([(1,), (2,), item, (4,)])
    assert text in str(excinfo.value)
    assert Job.objects.count() == 0


def test_module_level_enqueue_many_refuses_at_new_before_anything_is_written() -> None:
    with pytest.raises(UnstorableValueError, match=r"args\[1\]"):
        djobs.enqueue_many([add.new(1, 2), echo.new(1, NUL)])
    assert Job.objects.count() == 0


# -- batches -------------------------------------------------------------------


def test_a_bad_argument_inside_a_batch_is_refused_and_not_counted() -> None:
    with pytest.raises(UnstorableValueError), batch(description="nul"):
        batch_jobs.work.enqueue(NUL)
    assert Job.objects.count() == 0
    assert Batch.objects.get().size in (0, None)


def test_a_batch_callbacks_extra_arguments_follow_the_same_rule() -> None:
    with (
        pytest.raises(UnstorableValueError, match=r"on_complete args\[0\] is"),
        batch(on_complete=callback(batch_jobs.report, NUL)),
    ):
        pass
    assert not Batch.objects.exists()


# -- periodic schedules ----------------------------------------------------------


def periodic_errors(args: Any) -> list[tuple[str, str]]:
    entry = {"cron": "0 9 * * *", "job": "tests.testapp.jobs.echo", "args": args}
    with override_settings(DJOBS={"PERIODIC": {"r": entry}}):
        return [(e.id or "", e.msg) for e in check_settings()]


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ([NUL], "args[0] is 'a\\x00b', which holds a NUL"),
        ([SURROGATE], "lone surrogate"),
        ([nested(5000)], f"more than {MAX_DEPTH} levels deep"),
        (["x" * (2 * 1024 * 1024)], "DJOBS['MAX_ARGUMENTS_BYTES']"),
    ],
)
def test_a_schedule_whose_arguments_enqueue_would_refuse_fails_the_system_check(args: Any, text: str) -> None:
    errors = periodic_errors(args)
    assert [check_id for check_id, _ in errors] == ["djobs.E015"]
    assert errors[0][1].startswith("DJOBS['PERIODIC']['r']: ")
    assert text in errors[0][1]


SCHEDULE = {
    "name": "nightly",
    "cron": "0 3 * * *",
    "timezone": "UTC",
    "path": "tests.testapp.jobs.echo",
    "args": "[]",
    "kwargs": "{}",
    "options": "{}",
    "enabled": "on",
}


@pytest.mark.parametrize(
    ("field", "text", "shown"),
    [
        ("args", '["a\\u0000b"]', "args[0] is 'a\\x00b', which holds a NUL"),
        ("kwargs", '{"k": "x\\ud800y"}', 'kwargs["k"] is'),
        # Python 3.11/3.12's parser gives up on this nesting; 3.13's reads it and djobs refuses it.
        ("args", "[" * 5000 + "]" * 5000, "deeper than Python can read|more than 100 levels deep"),
        ("args", "[" * 150 + "]" * 150, f"more than {MAX_DEPTH} levels deep"),
        ("options", '{"queue": "q\\u0000"}', 'options["queue"] is'),
    ],
)
def test_the_schedule_form_shows_bad_arguments_as_a_form_error(field: str, text: str, shown: str) -> None:
    form = PeriodicScheduleForm(data={**SCHEDULE, field: text})
    assert not form.is_valid()
    assert any(
        any(part in message for part in shown.split("|"))
        for messages in form.errors.values()
        for message in messages
    )
    assert not PeriodicSchedule.objects.exists()


def test_the_admin_add_page_answers_a_nul_argument_with_the_form_again(admin_user: User) -> None:
    client = Client()
    client.force_login(admin_user)
    response = client.post(reverse("admin:djobs_periodicschedule_add"), {**SCHEDULE, "args": '["a\\u0000b"]'})
    assert response.status_code == 200
    assert "which holds a NUL" in response.content.decode()
    assert not PeriodicSchedule.objects.exists()


def test_enqueue_now_in_the_admin_reports_refused_arguments_as_a_message(admin_user: User) -> None:
    schedule = PeriodicScheduleFactory(path="tests.testapp.jobs.echo", args=["x" * 200])
    client = Client()
    client.force_login(admin_user)
    with override_settings(DJOBS={"MAX_ARGUMENTS_BYTES": 100}):
        response = client.post(
            reverse("admin:djobs_periodicschedule_changelist"),
            {"action": "enqueue_now", "_selected_action": [schedule.pk]},
            follow=True,
        )
    messages = [str(m) for m in response.context["messages"]]
    assert any(f"{schedule.name}: not enqueued: " in m and "MAX_ARGUMENTS_BYTES" in m for m in messages)
    assert Job.objects.count() == 0


# -- django.tasks backend ----------------------------------------------------------


@needs_tasks
@pytest.mark.parametrize(("value", "error", "text"), BAD_ARGUMENTS)
def test_the_django_tasks_backend_gives_the_same_answer(
    value: Any, error: type[Exception], text: str
) -> None:
    assert django_tasks is not None
    with pytest.raises(error) as excinfo:
        django_tasks.add.enqueue(value, 1)
    assert text in str(excinfo.value)
    assert Job.objects.count() == 0


@needs_tasks
def test_bytes_holding_a_nul_are_refused_after_django_tasks_turns_them_into_text() -> None:
    assert django_tasks is not None
    with pytest.raises(UnstorableValueError, match=r"args\[0\] is 'a\\x00b'"):
        django_tasks.add.enqueue(b"a\x00b", 1)
    assert Job.objects.count() == 0


# -- the check on its own ----------------------------------------------------------


def test_check_json_applies_the_same_rules_to_meta_and_other_stored_json() -> None:
    check_json({"fine": ["\U0001f600", 1.5, None]}, "meta")
    with pytest.raises(UnstorableValueError, match=r'meta\["a"\]\[0\] is'):
        check_json({"a": [NUL]}, "meta")
