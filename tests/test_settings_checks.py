"""DJOBS settings: defaults, lazy reading, and a system check with a stable id per mistake."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from djobs.checks import check_settings
from djobs.conf import get_settings


def _checks(value: object) -> list[tuple[str, str, str]]:
    with override_settings(DJOBS=value):
        return [(e.id or "", e.msg, e.hint or "") for e in check_settings()]


def test_defaults_apply_when_djobs_is_absent() -> None:
    with override_settings(DJOBS={}):
        conf = get_settings()
    assert conf.QUEUES == {"default": 10}
    assert conf.DEFAULT_MAX_ATTEMPTS == 20
    assert conf.RETENTION["completed"] == 86400


def test_settings_are_reread_when_overridden() -> None:
    with override_settings(DJOBS={"POLL_INTERVAL": 0.25}):
        assert get_settings().POLL_INTERVAL == 0.25
    with override_settings(DJOBS={"POLL_INTERVAL": 2}):
        assert get_settings().POLL_INTERVAL == 2


def test_partial_retention_keeps_the_other_defaults() -> None:
    with override_settings(DJOBS={"RETENTION": {"completed": 60}}):
        assert get_settings().RETENTION == {"completed": 60, "cancelled": 604800, "discarded": 604800}


def test_valid_settings_pass_the_checks() -> None:
    assert _checks({"QUEUES": {"default": 5, "emails": 2}, "RETENTION": {"completed": None}}) == []


@pytest.mark.parametrize(
    ("value", "check_id", "text"),
    [
        ({"QUEUS": {}}, "djobs.E001", "unknown key 'QUEUS'"),
        ([], "djobs.E001", "DJOBS must be a dict"),
        ({"QUEUES": ["default"]}, "djobs.E002", "must map queue names to concurrency"),
        ({"QUEUES": {"default": 0}}, "djobs.E002", "DJOBS['QUEUES']['default'] is 0"),
        ({"QUEUES": {"": 3}}, "djobs.E002", "queue name '' must be a non-empty string"),
        ({"POLL_INTERVAL": 0}, "djobs.E003", "DJOBS['POLL_INTERVAL'] is 0"),
        ({"RESCUE_AFTER": "60"}, "djobs.E003", "DJOBS['RESCUE_AFTER'] is '60'"),
        ({"DEFAULT_PRIORITY": 12}, "djobs.E003", "is 12; it must be an integer from 0 to 9"),
        ({"SHUTDOWN_GRACE": -1}, "djobs.E003", "DJOBS['SHUTDOWN_GRACE'] is -1"),
        ({"RETENTION": {"done": 5}}, "djobs.E004", "'done', which is not a terminal state"),
        ({"RETENTION": {"completed": -5}}, "djobs.E004", "DJOBS['RETENTION']['completed'] is -5"),
        ({"TESTING": "sync"}, "djobs.E006", "DJOBS['TESTING'] is 'sync'"),
        ({"DATABASE": "jobs"}, "djobs.E007", "DJOBS['DATABASE'] is 'jobs', which is not in DATABASES"),
        ({"RESCUE_AFTER": 3}, "djobs.E008", "RESCUE_AFTER'] is 3, less than 3 x HEARTBEAT_INTERVAL (5.0)"),
        (
            {"RESCUE_AFTER": 2, "HEARTBEAT_INTERVAL": 1},
            "djobs.E008",
            "RESCUE_AFTER'] is 2, less than 3 x HEARTBEAT_INTERVAL (1): live workers",
        ),
    ],
)
def test_each_bad_value_is_a_check_error_naming_key_and_value(value, check_id, text) -> None:  # type: ignore[no-untyped-def]
    errors = _checks(value)
    assert any(cid == check_id and text in msg for cid, msg, _ in errors), errors


def test_an_unknown_key_suggests_the_closest_known_one() -> None:
    [(_, _, hint)] = _checks({"POLL_INTERVALL": 1})
    assert hint == "Did you mean 'POLL_INTERVAL'?"


def test_using_bad_settings_raises_improperly_configured_naming_the_problem() -> None:
    with (
        override_settings(DJOBS={"POLL_INTERVAL": -1}),
        pytest.raises(ImproperlyConfigured, match=r"DJOBS\['POLL_INTERVAL'\] is -1"),
    ):
        get_settings()


def test_did_you_mean_ignores_case_for_settings_keys() -> None:
    [(check_id, message, hint)] = _checks({"queues": {"default": 2}})
    assert (check_id, hint) == ("djobs.E001", "Did you mean 'QUEUES'?")
    assert "unknown key 'queues'" in message


def _queue_warnings(queues: dict[str, int]) -> list[tuple[str, str]]:
    from djobs.checks import check_queues_in_use

    with override_settings(DJOBS={"QUEUES": queues}):
        return [(w.id or "", w.msg) for w in check_queues_in_use()]


def test_a_queue_no_job_or_schedule_uses_is_a_warning_with_a_did_you_mean() -> None:
    [(check_id, message)] = _queue_warnings({"default": 5, "emial": 2})
    assert check_id == "djobs.W002"
    assert "DJOBS['QUEUES']: queue 'emial' is served but no registered job" in message
    assert "Did you mean 'emails'?" in message


def test_queues_used_by_jobs_or_django_tasks_are_not_warned_about() -> None:
    # "emails" has @job(queue="emails") functions; "default" is DEFAULT_QUEUE.
    assert _queue_warnings({"default": 5, "emails": 2}) == []
