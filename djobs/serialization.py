"""The JSON round trip that job arguments, results and meta must survive."""

from __future__ import annotations

import json
from typing import Any


def _find_offender(value: Any, where: str) -> tuple[str, Any] | None:
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return (where, value) if value != value or value in (float("inf"), float("-inf")) else None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _find_offender(item, f"{where}[{i}]")
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return (f"{where} key {key!r}", key)
            found = _find_offender(item, f"{where}[{key!r}]")
            if found:
                return found
        return None
    return (where, value)


def check_json(value: Any, where: str) -> None:
    """Raise TypeError naming the first part of ``value`` that JSON would not give back.

    Tuples become lists and that is accepted; sets, dates, Decimals, model
    instances, non-string keys and NaN are refused.
    """
    found = _find_offender(value, where)
    if found is not None:
        place, offender = found
        raise TypeError(
            f"{place} is {offender!r} ({type(offender).__name__}), which does not survive a "
            "JSON round trip. Pass plain JSON values (str, int, float, bool, None, list, dict "
            "with str keys): an id instead of a model instance, an ISO string instead of a date."
        )


def round_trip(value: Any) -> Any:
    """Return ``value`` as the job will receive it (tuples become lists)."""
    return json.loads(json.dumps(value))
