"""djobs.testing helpers work on tasks written against django.tasks."""

from __future__ import annotations

import pytest

pytest.importorskip("djobs.backends", reason="django.tasks needs Django 6.0+ or the django-tasks backport")

from django.test import override_settings

from djobs.tasks_compat.api import TaskResultStatus
from djobs.testing import assert_enqueued, drain_queue, refute_enqueued
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def test_assert_enqueued_finds_a_task_by_its_module_path_or_the_task() -> None:
    result = tasks.send_email.enqueue("a@b.c", subject="hi")
    job = assert_enqueued(job="tests.testapp.tasks.send_email", args=["a@b.c"], queue="emails")
    assert str(job.pk) == result.id
    assert_enqueued(job=tasks.send_email, kwargs={"subject": "hi"})
    refute_enqueued(job=tasks.add)


def test_drain_queue_runs_tasks_and_their_results_read_successful() -> None:
    result = tasks.add.enqueue(4, 4)
    assert drain_queue("default") == {"completed": 1}
    result.refresh()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 8)


def test_in_inline_mode_enqueue_runs_the_task_and_returns_its_result() -> None:
    with override_settings(DJOBS={"TESTING": "inline"}):
        result = tasks.add.enqueue(20, 22)
    assert (result.status, result.return_value, result.attempts) == (TaskResultStatus.SUCCESSFUL, 42, 1)
