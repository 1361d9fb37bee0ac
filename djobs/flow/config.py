"""A queue's settings: ``DJOBS["QUEUES"][name]`` is a concurrency, or a dict of flow options.

Pure: no database, no job imports. ``conf`` validates with :func:`queue_problems`
and keeps the parsed :class:`QueueFlow` of each queue beside ``QUEUES``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

QUEUE_OPTIONS = ("concurrency", "global_limit", "rate_limit", "partition_by")
RATE_OPTIONS = ("allowed", "period")
DEFAULT_CONCURRENCY = 10


@dataclass(frozen=True)
class QueueFlow:
    """One queue's flow options as configured (a plain int setting has no limits)."""

    concurrency: int
    global_limit: int | None = None
    rate_allowed: int | None = None
    rate_period: float | None = None
    partition_by: tuple[str, ...] = ()

    @property
    def limited(self) -> bool:
        """Whether claims of this queue go through the limited claim."""
        return self.global_limit is not None or self.rate_allowed is not None


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _hint(name: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(name).casefold(), list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else f"use {', '.join(repr(c) for c in choices)}"


def queue_problems(name: str, value: object) -> list[str]:
    """Return what is wrong with ``DJOBS["QUEUES"][name]``, each naming the value and the fix."""
    where = f"DJOBS['QUEUES'][{name!r}]"
    if not isinstance(value, dict):
        if _is_count(value):
            return []
        return [
            f"{where} is {value!r}; use a concurrency (an integer of at least 1) or a dict "
            "such as {'concurrency': 5, 'global_limit': 2}."
        ]
    problems = []
    for key in value:
        if key not in QUEUE_OPTIONS:
            problems.append(f"{where} has an unknown option {key!r}; {_hint(key, QUEUE_OPTIONS)}")
    for key in ("concurrency", "global_limit"):
        if key in value and not _is_count(value[key]):
            problems.append(f"{where}[{key!r}] is {value[key]!r}; it must be an integer of at least 1.")
    if "rate_limit" in value:
        rate = value["rate_limit"]
        if not isinstance(rate, dict):
            problems.append(
                f"{where}['rate_limit'] is {rate!r}; use a dict such as {{'allowed': 100, 'period': 60}}."
            )
        else:
            for key in rate:
                if key not in RATE_OPTIONS:
                    problems.append(
                        f"{where}['rate_limit'] has an unknown option {key!r}; {_hint(key, RATE_OPTIONS)}"
                    )
            if not _is_count(rate.get("allowed")):
                problems.append(
                    f"{where}['rate_limit']['allowed'] is {rate.get('allowed')!r}; it must be an integer "
                    "of at least 1 (starts allowed per period)."
                )
            period = rate.get("period")
            if not isinstance(period, int | float) or isinstance(period, bool) or period <= 0:
                problems.append(
                    f"{where}['rate_limit']['period'] is {period!r}; it must be a number of seconds above 0."
                )
    if "partition_by" in value:
        names = value["partition_by"]
        if (
            isinstance(names, str)
            or not isinstance(names, list | tuple)
            or not names
            or not all(isinstance(n, str) and n.isidentifier() for n in names)
        ):
            problems.append(
                f"{where}['partition_by'] is {names!r}; use a non-empty list of argument names "
                "(['account_id'])."
            )
        elif "global_limit" not in value and "rate_limit" not in value:
            problems.append(
                f"{where} has partition_by but no global_limit or rate_limit to apply per partition; "
                "add one, or remove partition_by."
            )
    return problems


def parse_queue(value: int | dict[str, Any]) -> QueueFlow:
    """Return the QueueFlow of a valid ``DJOBS["QUEUES"]`` value."""
    if not isinstance(value, dict):
        return QueueFlow(concurrency=value)
    rate = value.get("rate_limit") or {}
    return QueueFlow(
        concurrency=value.get("concurrency", DEFAULT_CONCURRENCY),
        global_limit=value.get("global_limit"),
        rate_allowed=rate.get("allowed"),
        rate_period=float(rate["period"]) if "period" in rate else None,
        partition_by=tuple(value.get("partition_by") or ()),
    )


__all__ = ["DEFAULT_CONCURRENCY", "QueueFlow", "parse_queue", "queue_problems"]
