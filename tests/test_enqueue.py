"""Enqueueing: rows written, options applied, bad input refused with nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

import djobs
from djobs import Call, EnqueueError
from djobs.models import Job
from tests.testapp.jobs import add, echo, send_email

pytestmark = pytest.mark.django_db


def test_enqueue_writes_an_available_job_with_the_decorator_defaults() -> None:
    job = send_email.enqueue("a@example.com", subject="hi")

    row = Job.objects.get(pk=job.pk)
    assert row.path == "tests.testapp.jobs.send_email"
    assert row.state == Job.State.AVAILABLE
    assert (row.queue, row.priority, row.max_attempts) == ("emails", 3, 5)
    assert row.args == ["a@example.com"]
    assert row.kwargs == {"subject": "hi"}
    assert row.attempt == 0
    assert row.unique_key is None


def test_the_decorated_function_is_still_a_plain_callable() -> None:
    assert add(2, 3) == 5
    assert add.__name__ == "add"
    assert Job.objects.count() == 0


def test_using_overrides_queue_priority_attempts_meta_and_tags() -> None:
    job = add.using(queue="math", priority=7, max_attempts=2, meta={"k": "v"}, tags=["t"]).enqueue(1, 2)
    row = Job.objects.get(pk=job.pk)
    assert (row.queue, row.priority, row.max_attempts) == ("math", 7, 2)
    assert row.meta == {"k": "v"}
    assert row.tags == ["t"]


def test_schedule_in_makes_a_scheduled_job_due_later() -> None:
    before = timezone.now()
    job = add.using(schedule_in=60).enqueue(1, 2)
    row = Job.objects.get(pk=job.pk)
    assert row.state == Job.State.SCHEDULED
    assert before + timedelta(seconds=59) < row.scheduled_at < timezone.now() + timedelta(seconds=61)


def test_schedule_in_accepts_a_timedelta() -> None:
    job = add.using(schedule_in=timedelta(minutes=5)).enqueue(1, 2)
    assert Job.objects.get(pk=job.pk).scheduled_at > timezone.now() + timedelta(minutes=4)


def test_run_at_in_the_past_is_available_at_once() -> None:
    job = add.using(run_at=timezone.now() - timedelta(hours=1)).enqueue(1, 2)
    assert Job.objects.get(pk=job.pk).state == Job.State.AVAILABLE


def test_run_at_in_the_future_is_scheduled_at_that_time() -> None:
    when = datetime(2999, 1, 1, 9, 0, tzinfo=UTC)
    job = add.using(run_at=when).enqueue(1, 2)
    row = Job.objects.get(pk=job.pk)
    assert row.state == Job.State.SCHEDULED
    assert row.scheduled_at == when


def test_enqueue_many_inserts_every_item_in_order() -> None:
    jobs = send_email.enqueue_many([("a",), {"to": "b"}, Call("c", subject="x")])
    assert [j.pk for j in jobs] == sorted(j.pk for j in jobs)
    rows = list(Job.objects.order_by("id").values_list("args", "kwargs"))
    assert rows == [(["a"], {}), ([], {"to": "b"}), (["c"], {"subject": "x"})]


def test_enqueue_many_writes_large_bulks_in_chunks(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DJOBS = {"BULK_CHUNK_SIZE": 7}
    jobs = add.enqueue_many([(i, i) for i in range(50)])
    assert len(jobs) == 50
    assert sorted(Job.objects.values_list("args", flat=True)) == sorted([[i, i] for i in range(50)])


def test_module_level_enqueue_many_mixes_job_functions() -> None:
    jobs = djobs.enqueue_many([add.new(1, 2), send_email.using(priority=9).new("x")])
    assert [j.path for j in jobs] == ["tests.testapp.jobs.add", "tests.testapp.jobs.send_email"]
    assert Job.objects.get(path="tests.testapp.jobs.send_email").priority == 9


def test_arguments_come_back_as_the_job_will_see_them_after_json() -> None:
    job = echo.enqueue((1, 2), {"nested": (3,)})
    assert Job.objects.get(pk=job.pk).args == [[1, 2], {"nested": [3]}]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: add.enqueue(1, {1, 2}), "args[1] is {1, 2} (set)"),
        (lambda: add.enqueue(1, b=datetime.now(UTC)), 'kwargs["b"] is datetime'),
        (lambda: echo.enqueue({1: "x"}), "args[0] key 1"),
        (lambda: echo.enqueue(float("nan")), "args[0] is nan"),
        (lambda: echo.enqueue([object()]), "args[0][0] is <object object"),
    ],
)
def test_arguments_that_do_not_survive_json_are_refused_naming_the_value(call, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError) as excinfo:
        call()
    assert message in str(excinfo.value)
    assert "JSON round trip" in str(excinfo.value)
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"priority": 10}, "priority=10 is not valid; use an integer from 0 to 9"),
        ({"priority": -1}, "priority=-1"),
        ({"max_attempts": 0}, "max_attempts=0 is not valid"),
        ({"queue": ""}, "queue='' is not valid"),
        ({"queue": "q" * 129}, "129 characters; the limit is 128"),
        ({"run_at": datetime(2030, 1, 1)}, "is naive; pass an aware datetime"),
        ({"schedule_in": "soon"}, "schedule_in='soon' is not valid"),
        ({"meta": {"when": {1, 2}}}, 'meta["when"] is {1, 2}'),
        ({"tags": "urgent"}, "tags='urgent' is not valid"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(options, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises((EnqueueError, TypeError)) as excinfo:
        add.using(**options).enqueue(1, 2)
    assert message in str(excinfo.value)
    assert Job.objects.count() == 0


def test_using_rejects_an_unknown_option_naming_the_known_ones() -> None:
    with pytest.raises(
        TypeError, match=r"unknown option\(s\) 'prio' \(did you mean 'priority'\?\); use queue, priority"
    ):
        add.using(prio=1)


def test_arguments_that_do_not_fit_the_signature_are_refused() -> None:
    with pytest.raises(TypeError, match=r"tests.testapp.jobs.add\(a, b\): too many positional arguments"):
        add.enqueue(1, 2, 3)
    assert Job.objects.count() == 0


def test_one_bad_item_refuses_the_whole_bulk() -> None:
    with pytest.raises(TypeError, match="enqueue_many item 2: args"):
        add.enqueue_many([(1, 2), (3, 4), (5, {6})])
    assert Job.objects.count() == 0


def test_bulk_item_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(TypeError, match=r"enqueue_many item 0: enqueue_many item .ab. must be a tuple"):
        add.enqueue_many(["ab"])


def test_module_level_enqueue_many_refuses_items_that_are_not_built_with_new() -> None:
    with pytest.raises(TypeError, match=r"build items with job_function\.new"):
        djobs.enqueue_many([(1, 2)])  # type: ignore[list-item]


def test_bulk_insert_keeps_awkward_text_exactly() -> None:
    # Enough rows for PostgreSQL's COPY path, whose text format escapes these.
    awkward = ["tab\there", "new\nline", "back\\slash", 'quote"s', "\\N", "ünïcödé ✓", "cr\rlf", ""]
    items = [(text, {"k\t": text}) for text in awkward] * 8
    jobs = echo.using(queue="q\\x", meta={"m": "a\nb"}).enqueue_many(items)
    rows = Job.objects.filter(pk__in=[j.pk for j in jobs]).order_by("pk")
    assert [(r.args, r.queue, r.meta) for r in rows] == [
        ([text, {"k\t": text}], "q\\x", {"m": "a\nb"}) for text, _ in items
    ]
    assert [j.pk for j in jobs] == [r.pk for r in rows]
