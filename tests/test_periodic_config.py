"""DJOBS["PERIODIC"] validation: each mistake is a system check error naming schedule, key, value, fix."""

from __future__ import annotations

import pytest
from django.test import override_settings

from djobs.checks import check_settings
from djobs.periodic.config import schedule_specs, validate_periodic

GOOD = {"cron": "0 9 * * *", "job": "tests.testapp.jobs.add", "args": [1, 2], "timezone": "Europe/Paris"}


def _errors(periodic: object) -> list[tuple[str, str, str]]:
    with override_settings(DJOBS={"PERIODIC": periodic}):
        return [(e.id or "", e.msg, e.hint or "") for e in check_settings()]


def test_a_valid_schedule_passes_the_checks() -> None:
    assert _errors({"daily-report": GOOD}) == []
    assert (
        _errors({"every-ten": {**GOOD, "cron": "*/10 * * * *", "catch_up": "all", "queue": "reports"}}) == []
    )


@pytest.mark.parametrize(
    ("entry", "check_id", "text"),
    [
        (
            {**GOOD, "cron": "0 9 * *"},
            "djobs.E012",
            "DJOBS['PERIODIC']['r']: 'cron': cron expression '0 9 * *' has 4 field(s); use five",
        ),
        ({**GOOD, "cron": "0 0 30 2 *"}, "djobs.E012", "'0 0 30 2 *' never matches a real date"),
        (
            {**GOOD, "timezone": "Europe/Pari"},
            "djobs.E013",
            "DJOBS['PERIODIC']['r']: 'timezone': time zone 'Europe/Pari' is not known to zoneinfo; "
            "did you mean 'Europe/Paris'?",
        ),
        (
            {**GOOD, "job": "tests.testapp.jobs.ad"},
            "djobs.E014",
            "DJOBS['PERIODIC']['r']: 'job': job 'tests.testapp.jobs.ad' is not a registered @job "
            "function; did you mean 'tests.testapp.jobs.add'?",
        ),
        ({**GOOD, "args": 5}, "djobs.E015", "DJOBS['PERIODIC']['r']: args 5 must be a list."),
        (
            {**GOOD, "args": [1]},
            "djobs.E015",
            "the arguments do not fit the job: tests.testapp.jobs.add(a, b): "
            "missing a required argument: 'b'",
        ),
        ({**GOOD, "kwargs": {"when": {1, 2}}}, "djobs.E015", "does not survive a JSON round trip"),
        (
            {**GOOD, "priority": 12},
            "djobs.E016",
            "DJOBS['PERIODIC']['r']: priority is 12; use an integer from 0 to 9.",
        ),
        ({**GOOD, "max_attempts": 0}, "djobs.E016", "max_attempts is 0; use an integer of at least 1"),
        ({**GOOD, "queue": ""}, "djobs.E016", "queue name '' must be a non-empty string"),
        ({**GOOD, "catch_up": "none"}, "djobs.E016", "catch_up is 'none'; use 'latest'"),
        ({**GOOD, "enabled": "yes"}, "djobs.E016", "'enabled' is 'yes'; use True or False"),
        (
            {"job": "tests.testapp.jobs.add", "args": [1, 2]},
            "djobs.E010",
            "the required key 'cron' is missing",
        ),
        ([], "djobs.E010", "DJOBS['PERIODIC']['r']: the schedule must be a dict, not []."),
    ],
)
def test_each_mistake_is_a_check_error_naming_schedule_key_and_value(
    entry: object, check_id: str, text: str
) -> None:
    errors = _errors({"r": entry})
    assert any(cid == check_id and text in msg for cid, msg, _ in errors), errors


def test_an_unknown_key_suggests_the_closest_known_one() -> None:
    [(check_id, message, hint)] = _errors({"r": {**GOOD, "timzone": "UTC"}})
    assert (check_id, message, hint) == (
        "djobs.E011",
        "DJOBS['PERIODIC']['r']: unknown key 'timzone'.",
        "Did you mean 'timezone'?",
    )


def test_a_bad_schedule_name_is_reported() -> None:
    [(check_id, message, _)] = _errors({"": GOOD})
    assert check_id == "djobs.E010" and "the schedule name must be a non-empty string" in message


def test_periodic_that_is_not_a_dict_is_reported_once() -> None:
    errors = _errors(["daily"])
    assert [cid for cid, _, _ in errors] == ["djobs.E005"]
    assert [p.id for p in validate_periodic(["daily"])] == ["djobs.E010"]


def test_every_problem_of_an_entry_is_reported_at_once() -> None:
    problems = validate_periodic({"r": {"cron": "bad", "job": "nope", "timezone": "Nowhere"}})
    assert {p.id for p in problems} == {"djobs.E012", "djobs.E013", "djobs.E014"}


def test_the_job_lookup_can_be_given_for_checks_without_the_registry() -> None:
    assert validate_periodic({"r": {**GOOD, "job": "x.y"}}, is_known_job=lambda path: True) == []


def test_specs_fill_in_the_defaults() -> None:
    with override_settings(TIME_ZONE="Europe/Paris"):
        [spec], problems = schedule_specs(
            {"r": {"cron": "@daily", "job": "tests.testapp.jobs.add", "args": [1, 2]}}
        )
    assert problems == []
    assert (spec.timezone, spec.kwargs, spec.options, spec.enabled) == ("Europe/Paris", {}, {}, None)
    [spec], _ = schedule_specs({"r": {**GOOD, "queue": "q", "catch_up": "skip", "enabled": False}})
    assert (spec.path, spec.options, spec.enabled) == (
        "tests.testapp.jobs.add",
        {"queue": "q", "catch_up": "skip"},
        False,
    )
