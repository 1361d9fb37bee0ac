"""``DJOBS["PERIODIC"]``: validation with stable check ids, and the schedules it declares.

::

    DJOBS = {
        "PERIODIC": {
            "daily-report": {
                "cron": "0 9 * * *",
                "job": "reports.jobs.daily",
                "timezone": "Europe/Paris",
            },
        },
    }

Each entry takes ``cron`` and ``job`` (required), ``timezone`` (default:
``settings.TIME_ZONE``), ``args``, ``kwargs``, the job options ``queue``,
``priority``, ``max_attempts``, the missed-tick policy ``catch_up``
(``"latest"``, ``"all"`` or ``"skip"``) and ``enabled``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .. import registry
from ..conf import DEFAULTS, Problem, get_settings, validate_queue_name
from ..serialization import check_arguments, check_json
from .cron import InvalidCron, UnknownTimeZone, parse_cron, time_zone

NAME_MAX = 128
REQUIRED_KEYS = ("cron", "job")
OPTION_KEYS = ("queue", "priority", "max_attempts", "catch_up")
ENTRY_KEYS = (*REQUIRED_KEYS, "timezone", "args", "kwargs", *OPTION_KEYS, "enabled")
CATCH_UP_POLICIES = ("latest", "all", "skip")
DEFAULT_CATCH_UP = "latest"


@dataclass(frozen=True)
class ScheduleSpec:
    """One valid settings entry, in the shape of a PeriodicSchedule row.

    ``enabled`` is None when the entry does not say, which leaves the admin's
    toggle alone (see :mod:`djobs.periodic.sync`).
    """

    name: str
    cron: str
    timezone: str
    path: str
    args: list[Any]
    kwargs: dict[str, Any]
    options: dict[str, Any]
    enabled: bool | None


def default_time_zone() -> str:
    """Return the zone used when a schedule names none: ``settings.TIME_ZONE``, else UTC."""
    return getattr(settings, "TIME_ZONE", None) or "UTC"


def option_errors(options: object) -> list[str]:
    """Return what is wrong with a schedule's ``options`` dict, one sentence each."""
    if not isinstance(options, Mapping):
        return [f"options {options!r} must be a dict with keys among {', '.join(OPTION_KEYS)}"]
    try:
        check_json(dict(options), "options")
    except (TypeError, ValueError) as exc:
        return [str(exc).rstrip(".")]
    errors = []
    for key in options:
        if key not in OPTION_KEYS:
            close = difflib.get_close_matches(str(key), OPTION_KEYS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"use {', '.join(OPTION_KEYS)}"
            errors.append(f"unknown option {key!r}; {hint}")
    if "queue" in options:
        why = validate_queue_name(options["queue"])
        if why:
            errors.append(why)
    for key, low, high in (("priority", 0, 9), ("max_attempts", 1, None)):
        if key in options:
            value = options[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < low
                or (high is not None and value > high)
            ):
                bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
                errors.append(f"{key} is {value!r}; use an integer {bound}")
    if "catch_up" in options and options["catch_up"] not in CATCH_UP_POLICIES:
        errors.append(
            f"catch_up is {options['catch_up']!r}; use 'latest' (one run for the most recent "
            "missed tick, the default), 'all' (every missed tick) or 'skip' (none)"
        )
    return errors


def argument_errors(path: str, args: object, kwargs: object) -> list[str]:
    """Return what is wrong with a schedule's arguments for the job at ``path``."""
    errors = []
    if not isinstance(args, list | tuple):
        errors.append(f"args {args!r} must be a list")
    if not isinstance(kwargs, Mapping):
        errors.append(f"kwargs {kwargs!r} must be a dict")
    if errors:
        return errors
    assert isinstance(args, list | tuple) and isinstance(kwargs, Mapping)
    try:
        # The same check as enqueue's, so a schedule that passes never fails at its ticks.
        check_arguments(args, kwargs, max_bytes=_max_arguments_bytes())
    except (TypeError, ValueError) as exc:
        return [str(exc).rstrip(".")]
    if registry.is_registered(path):
        try:
            registry.lookup(path).bind_arguments(list(args), dict(kwargs))
        except TypeError as exc:
            return [f"the arguments do not fit the job: {exc}"]
    return []


def _max_arguments_bytes() -> int | None:
    # A broken DJOBS is reported by its own check (djobs.E003); judge with the default meanwhile.
    try:
        return get_settings().MAX_ARGUMENTS_BYTES
    except ImproperlyConfigured:
        limit: int | None = DEFAULTS["MAX_ARGUMENTS_BYTES"]
        return limit


def unknown_job_message(path: object) -> str:
    """Say that ``path`` is not a registered job, suggesting the closest registered one."""
    close = difflib.get_close_matches(str(path), registry.registered_paths(), n=1)
    hint = (
        f"did you mean {close[0]!r}?"
        if close
        else "decorate the function with @djobs.job in an installed app's jobs.py"
    )
    return f"job {path!r} is not a registered @job function; {hint}"


def validate_periodic(
    raw: object, *, is_known_job: Callable[[str], bool] = registry.is_registered
) -> list[Problem]:
    """Return every problem in ``DJOBS["PERIODIC"]``, each naming schedule, key, value and fix."""
    return _collect(raw, is_known_job)[1]


def schedule_specs(raw: object) -> tuple[list[ScheduleSpec], list[Problem]]:
    """Return the valid entries of ``DJOBS["PERIODIC"]`` as specs, and the problems of the rest."""
    return _collect(raw, registry.is_registered)


def _collect(raw: object, is_known_job: Callable[[str], bool]) -> tuple[list[ScheduleSpec], list[Problem]]:
    if raw is None:
        return [], []
    if not isinstance(raw, Mapping):
        return [], [
            Problem(
                "djobs.E010",
                "PERIODIC",
                f"DJOBS['PERIODIC'] must map schedule names to dicts, not {raw!r}.",
                "For example {'daily-report': {'cron': '0 9 * * *', 'job': 'reports.jobs.daily'}}.",
            )
        ]
    specs: list[ScheduleSpec] = []
    problems: list[Problem] = []
    for name, entry in raw.items():
        found = _entry_problems(name, entry, is_known_job)
        problems.extend(found)
        if not found:
            specs.append(_spec(name, entry))
    return specs, problems


def _entry_problems(name: object, entry: object, is_known_job: Callable[[str], bool]) -> list[Problem]:
    where = f"DJOBS['PERIODIC'][{name!r}]"

    def problem(check_id: str, message: str, hint: str = "") -> Problem:
        return Problem(check_id, "PERIODIC", f"{where}: {message.rstrip('.')}.", hint)

    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        return [
            problem(
                "djobs.E010",
                f"the schedule name must be a non-empty string of at most {NAME_MAX} characters",
            )
        ]
    if not isinstance(entry, Mapping):
        return [
            problem(
                "djobs.E010",
                f"the schedule must be a dict, not {entry!r}",
                "For example {'cron': '0 9 * * *', 'job': 'reports.jobs.daily'}.",
            )
        ]
    problems = []
    for key in entry:
        if key not in ENTRY_KEYS:
            close = difflib.get_close_matches(str(key), ENTRY_KEYS, n=1)
            problems.append(
                problem(
                    "djobs.E011",
                    f"unknown key {key!r}",
                    f"Did you mean {close[0]!r}?" if close else f"Known keys: {', '.join(ENTRY_KEYS)}.",
                )
            )
    for key in REQUIRED_KEYS:
        if key not in entry:
            problems.append(problem("djobs.E010", f"the required key {key!r} is missing"))
    if "cron" in entry:
        try:
            parse_cron(entry["cron"])
        except InvalidCron as exc:
            problems.append(problem("djobs.E012", f"'cron': {exc}"))
    zone = entry.get("timezone", default_time_zone())
    try:
        time_zone(zone)
    except UnknownTimeZone as exc:
        problems.append(problem("djobs.E013", f"'timezone': {exc}"))
    path = entry.get("job")
    if "job" in entry and (not isinstance(path, str) or not is_known_job(path)):
        problems.append(problem("djobs.E014", f"'job': {unknown_job_message(path)}"))
    for message in argument_errors(str(path), entry.get("args", []), entry.get("kwargs", {})):
        problems.append(problem("djobs.E015", message))
    options = {key: entry[key] for key in OPTION_KEYS if key in entry}
    for message in option_errors(options):
        problems.append(problem("djobs.E016", message))
    if "enabled" in entry and not isinstance(entry["enabled"], bool):
        problems.append(problem("djobs.E016", f"'enabled' is {entry['enabled']!r}; use True or False"))
    return problems


def _spec(name: str, entry: Mapping[str, Any]) -> ScheduleSpec:
    return ScheduleSpec(
        name=name,
        cron=parse_cron(entry["cron"]).source,
        timezone=entry.get("timezone", default_time_zone()),
        path=entry["job"],
        args=list(entry.get("args", [])),
        kwargs=dict(entry.get("kwargs", {})),
        options={key: entry[key] for key in OPTION_KEYS if key in entry},
        enabled=entry.get("enabled"),
    )
