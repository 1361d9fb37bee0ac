"""djobs options for django.tasks Tasks one cannot decorate: backend defaults and per-path overrides.

Pure functions, no django.tasks import. Options, by precedence (last wins):

1. ``TASKS[alias]["OPTIONS"]`` of a djobs backend: defaults of the tasks it runs;
2. the task's own (``@task(max_attempts=...)`` on Django 6.1+);
3. ``DJOBS["TASK_OPTIONS"]``: ``{"pattern": {...}}`` by task path, an exact
   path beating a pattern, a longer pattern beating a shorter one
   (``"wagtail.*"``, ``"modelsearch.tasks.insert_or_update_object_task"``).

Keys: ``max_attempts`` (int >= 1), ``backoff`` (seconds, or the dotted path
of a function of the attempt returning seconds), ``priority`` (Django's,
-100..100), ``queue``, ``timeout`` (seconds) and, in ``TASK_OPTIONS`` only,
``unique`` (as ``@job(unique=...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase
from typing import Any

BACKEND_KEYS = ("max_attempts", "backoff", "priority", "queue", "timeout")
OVERRIDE_KEYS = (*BACKEND_KEYS, "unique")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def option_problems(options: object, where: str, keys: tuple[str, ...]) -> list[str]:
    """Return what is wrong with one dict of task options, each message naming ``where`` and the fix."""
    if not isinstance(options, Mapping):
        return [f"{where} must be a dict of options ({', '.join(keys)}), not {options!r}."]
    problems = []
    for key, value in options.items():
        if key not in keys:
            problems.append(f"{where} has an unknown option {key!r}; use {', '.join(keys)}.")
        elif key == "max_attempts" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            problems.append(f"{where}['max_attempts'] is {value!r}; use an integer of at least 1.")
        elif key == "priority" and (
            not isinstance(value, int) or isinstance(value, bool) or not -100 <= value <= 100
        ):
            problems.append(f"{where}['priority'] is {value!r}; use a Django task priority, -100 to 100.")
        elif key == "timeout" and value is not None and (not _is_number(value) or value <= 0):
            problems.append(f"{where}['timeout'] is {value!r}; use seconds above 0, or None.")
        elif key == "queue" and (not isinstance(value, str) or not value.strip()):
            problems.append(f"{where}['queue'] is {value!r}; use a queue name.")
        elif key == "backoff" and not (
            (_is_number(value) and value >= 0) or isinstance(value, str) or callable(value)
        ):
            problems.append(
                f"{where}['backoff'] is {value!r}; use seconds, or the dotted path of a function "
                "of the attempt returning seconds."
            )
        elif key == "unique" and value is not None:
            from ..uniqueness import parse_unique

            try:
                parse_unique(value)
            except (TypeError, ValueError) as exc:
                problems.append(f"{where}['unique']: {exc}")
    return problems


def task_options_problems(raw: object) -> list[str]:
    """Return what is wrong with ``DJOBS["TASK_OPTIONS"]``."""
    if not isinstance(raw, Mapping):
        return [f"DJOBS['TASK_OPTIONS'] must map task paths or patterns to options, not {raw!r}."]
    problems = []
    for pattern, options in raw.items():
        if not isinstance(pattern, str) or not pattern:
            problems.append(f"DJOBS['TASK_OPTIONS'] has the key {pattern!r}; use a task path or a pattern.")
            continue
        problems += option_problems(options, f"DJOBS['TASK_OPTIONS'][{pattern!r}]", OVERRIDE_KEYS)
    return problems


def matching_overrides(path: str, table: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Return the options of every entry of ``table`` matching ``path``, the most specific last."""
    matches = [pattern for pattern in table if pattern == path or fnmatchcase(path, pattern)]
    # An exact path wins over any pattern; a longer pattern over a shorter one.
    matches.sort(key=lambda pattern: (pattern == path, len(pattern)))
    merged: dict[str, Any] = {}
    for pattern in matches:
        merged.update(table[pattern])
    return merged


def backoff_function(value: Any) -> Callable[[int], float] | None:
    """Return the backoff function an option names: seconds (constant), a dotted path, or a callable."""
    if value is None or callable(value):
        return value
    if isinstance(value, str):
        from django.utils.module_loading import import_string

        found: Callable[[int], float] = import_string(value)
        return found
    seconds = float(value)
    return lambda attempt: seconds


__all__ = [
    "BACKEND_KEYS",
    "OVERRIDE_KEYS",
    "backoff_function",
    "matching_overrides",
    "option_problems",
    "task_options_problems",
]
