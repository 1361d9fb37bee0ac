"""Make what a job produced storable in every database's JSON column.

PostgreSQL's jsonb refuses the NUL character (``\\u0000``) and lone UTF-16
surrogates (``"\\ud800"``, what decoding bad bytes with ``surrogateescape``
leaves); one such value in an outcome would make the whole outcome batch fail.
Results, error messages and tracebacks are a job's output, not input a caller
can be asked to fix, so they are stored with those characters escaped as
backslash text: a NUL becomes the four characters ``\\x00``, a lone surrogate
``\\ud800``. Arguments are refused at enqueue instead (djobs.serialization).
"""

from __future__ import annotations

import json
import re
from typing import Any

# What json.dumps (ensure_ascii) writes for the characters jsonb refuses. A hit
# may be a false alarm (an escaped backslash before "u0000"); the walk decides.
_SUSPECT = re.compile(r"\\u0000|\\ud[89a-f][0-9a-f]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(text: str) -> str:
    """Return ``text`` with NULs and lone surrogates escaped as backslash text."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if _SURROGATE.search(text):
        # A valid pair never reaches Python as two surrogates, so any left is lone.
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return [_escape(item) for item in value]
    if isinstance(value, dict):
        return {storable_text(key): _escape(item) for key, item in value.items()}
    return value


def storable_json(value: Any, dumped: str) -> Any:
    """Return ``value`` (already JSON, whose ``json.dumps`` is ``dumped``) with bad characters escaped.

    Costs one regular-expression scan of ``dumped`` when there is nothing to escape.
    """
    if _SUSPECT.search(dumped) is None:
        return value
    return _escape(value)


def storable_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """Return an ``errors`` entry whose texts every database can store."""
    return {key: storable_text(item) if isinstance(item, str) else item for key, item in entry.items()}


def storable_value(value: Any) -> Any:
    """Return a JSON value with bad characters escaped (dumps it once to look)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return storable_text(value)
    return storable_json(value, json.dumps(value))


__all__ = ["storable_entry", "storable_json", "storable_text", "storable_value"]
