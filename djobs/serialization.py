"""The JSON round trip that job arguments, results and meta must survive, alike on every database.

A value is stored only if it comes back as given (tuples become lists) and
every database stores it the same way. Refused, before anything is written:

- values JSON has no form for: sets, dates, Decimals, model instances, NaN and
  infinities, keys that are not strings (:class:`NotJSONError`, a ``TypeError``);
- strings or keys holding a NUL (``"\\x00"``) or a lone surrogate
  (``"\\ud800"``): PostgreSQL refuses both in ``jsonb`` while SQLite keeps them
  (:class:`UnstorableValueError`, a ``ValueError``);
- lists and dicts nested more than :data:`MAX_DEPTH` levels deep, and
  arguments above ``DJOBS["MAX_ARGUMENTS_BYTES"]`` of JSON (the same).

The check is one C-level ``json.dumps`` whose text is searched for the few
patterns that need a closer look; only then is the value walked in Python to
name the path of the first offender (``args[0]["k"]``, ``kwargs["note"][3]``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Any

from .exceptions import NotJSONError, UnstorableValueError

#: Lists and dicts may nest this many levels inside one argument (or meta, or
#: result): ``[[1]]`` is 2 levels. Deeper data is refused, never a RecursionError.
MAX_DEPTH = 100


# With ensure_ascii, a NUL is written as \u0000 and every surrogate as \udXXX
# (a valid pair as two escapes), so the C encoder's text shows them cheaply.
_NUL_ESCAPE = "\\u0000"
_LONE_ESCAPE = re.compile(
    r"\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])"  # a high surrogate with no low one after it
    r"|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}"  # a low one with no high one before it
)
_LONE_CHAR = re.compile("[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]")
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SHOWN = 40  # characters of an offending string quoted in a message


def _show(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def _key_path(where: str, key: str) -> str:
    return f"{where}[{json.dumps(key)}]"


def _string_problem(text: str, what: str) -> str | None:
    """Say why ``text`` cannot be stored, or None; ``what`` introduces it ("is", "has the key")."""
    nul = text.find("\x00")
    if nul >= 0:
        return (
            f"{what} {_show(text)}, which holds a NUL character (\\x00) at index {nul}. PostgreSQL "
            "cannot store a NUL in JSON, so djobs refuses it on every database. Remove it, or pass "
            "binary data encoded (base64) or stored elsewhere, with its id as the argument."
        )
    lone = _LONE_CHAR.search(text)
    if lone is not None:
        return (
            f"{what} {_show(text)}, which holds a lone surrogate ({lone.group()!r} at index "
            f"{lone.start()}): it is not valid Unicode, often bytes decoded with "
            "errors='surrogateescape'. Decode the bytes with their real encoding, or pass them "
            "encoded (base64)."
        )
    return None


def _too_deep(where: str) -> str:
    return (
        f"{where} nests lists/dicts more than {MAX_DEPTH} levels deep (or contains itself); "
        f"djobs stores at most {MAX_DEPTH} (djobs.serialization.MAX_DEPTH). Flatten the data, "
        "or store it elsewhere and pass its id."
    )


def _short(where: str) -> str:
    # A path 100 levels deep is long; its start and end say where it is.
    return where if len(where) <= 120 else f"{where[:60]}...{where[-50:]}"


def _find_problem(value: Any, where: str, depth: int) -> BaseException | None:
    """Return the error for the first part of ``value`` that cannot be stored, or None."""
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, str):
        why = _string_problem(value, f"{where} is")
        return UnstorableValueError(why) if why else None
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return _not_json(where, value)
        return None
    if isinstance(value, list | tuple | dict):
        if depth > MAX_DEPTH:
            return UnstorableValueError(_too_deep(_short(where)))
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    return NotJSONError(
                        f"{where} key {key!r} ({type(key).__name__}) does not survive a JSON round "
                        f"trip: JSON keys are strings, so it would come back as {json.dumps(str(key))}. "
                        "Use str keys."
                    )
                why = _string_problem(key, f"{where} has the key")
                if why:
                    return UnstorableValueError(why)
                found = _find_problem(item, _key_path(where, key), depth + 1)
                if found:
                    return found
            return None
        for index, item in enumerate(value):
            found = _find_problem(item, f"{where}[{index}]", depth + 1)
            if found:
                return found
        return None
    return _not_json(where, value)


def _not_json(where: str, value: Any) -> NotJSONError:
    shown = repr(value)
    shown = shown if len(shown) <= 2 * _SHOWN else shown[: 2 * _SHOWN] + "..."
    return NotJSONError(
        f"{where} is {shown} ({type(value).__name__}), which does not survive a "
        "JSON round trip. Pass plain JSON values (str, int, float, bool, None, list, dict "
        "with str keys): an id instead of a model instance, an ISO string instead of a date."
    )


def _text_depth(text: str) -> int:
    """Return how deep lists and dicts nest in the JSON ``text``."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _raise_found(parts: Mapping[str, Any], fallback: BaseException | None = None) -> None:
    """Raise the error naming the first offender in ``parts``; else ``fallback``, if any."""
    for where, value in parts.items():
        # A part (args, kwargs, meta) is level 0: in args=[[1]], args[0] is level 1.
        found = _find_problem(value, where, 0)
        if found is not None:
            raise found
    if fallback is not None:
        raise NotJSONError(f"{', '.join(parts)} do not survive a JSON round trip: {fallback}") from fallback


def _json_size(value: Any) -> int:
    """Return the size in bytes of ``value`` as compact UTF-8 JSON."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _too_large(parts: Mapping[str, Any], size: int, max_bytes: int) -> UnstorableValueError:
    items: list[tuple[int, str]] = []
    for where, value in parts.items():
        if isinstance(value, Mapping):
            items.extend((_json_size(item), _key_path(where, key)) for key, item in value.items())
        elif isinstance(value, Sequence) and not isinstance(value, str):
            items.extend((_json_size(item), f"{where}[{index}]") for index, item in enumerate(value))
    largest = ""
    if items:
        item_size, item_path = max(items)
        largest = f" (the largest, {item_path}, takes {item_size:,})"
    return UnstorableValueError(
        f"{' and '.join(parts)} take {size:,} bytes of JSON{largest}, more than "
        f"DJOBS['MAX_ARGUMENTS_BYTES'] ({max_bytes:,}). Every claim of the job fetches its "
        "arguments again, and they stay in the table until the job is pruned: store large data "
        "elsewhere (a model row, a file in storage) and pass its id, or raise the setting "
        "(None turns the limit off)."
    )


def _encode(parts: dict[str, Any], max_bytes: int | None) -> list[Any]:
    """Return the values of ``parts`` after the JSON round trip, or raise naming the offender.

    One C-level dumps and loads in the common case; the Python walk that names
    the path runs only when the text shows something to look at.
    """
    values = list(parts.values())
    try:
        text = json.dumps(values, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        # Types JSON lacks, NaN, nesting too deep for the C encoder, cycles.
        _raise_found(parts, exc)
        raise  # unreachable: _raise_found raised
    if _NUL_ESCAPE in text or ("\\ud" in text and _LONE_ESCAPE.search(text)):
        _raise_found(parts)  # may find nothing: a literal backslash before "u0000" is fine
    # The list of parts and each part add 2 levels; counting brackets first keeps
    # the exact scan off shallow values.
    if text.count("[") + text.count("{") > MAX_DEPTH + 2 and _text_depth(text) > MAX_DEPTH + 2:
        _raise_found(parts)
    # ASCII text is never shorter than its UTF-8 form, so most values skip the exact size.
    if max_bytes is not None and len(text) - len(parts) - 1 > max_bytes:
        size = sum(_json_size(value) for value in values)
        if size > max_bytes:
            raise _too_large(parts, size, max_bytes)
    loaded: list[Any] = json.loads(text)
    # Keys that are not strings come back as strings: the C comparison spots it,
    # and the walk tells that apart from tuples that became lists.
    if loaded != values:
        _raise_found(parts)
    return loaded


def check_arguments(
    args: Sequence[Any], kwargs: Mapping[str, Any], *, max_bytes: int | None, where: str = ""
) -> tuple[list[Any], dict[str, Any]]:
    """Return ``args`` and ``kwargs`` as the job will receive them, or raise naming the offender.

    Raises :class:`NotJSONError` (a TypeError) or :class:`UnstorableValueError`
    (a ValueError) with the path (``args[0]["k"]``) and the fix. ``max_bytes``
    bounds the size of both as JSON (None: no bound). ``where`` prefixes the
    paths (``"on_complete "``).
    """
    loaded = _encode({f"{where}args": list(args), f"{where}kwargs": dict(kwargs)}, max_bytes)
    return loaded[0], loaded[1]


def check_json(value: Any, where: str) -> None:
    """Raise NotJSONError/UnstorableValueError naming the first part of ``value`` djobs would not store.

    Tuples become lists and that is accepted; sets, dates, Decimals, model
    instances, non-string keys, NaN, NULs, lone surrogates and nesting deeper
    than :data:`MAX_DEPTH` are refused.
    """
    _encode({where: value}, None)


#: ``json.dumps(value, separators=(",", ":"))`` without building an encoder per call.
compact_json = json.JSONEncoder(separators=(",", ":")).encode


def round_trip(value: Any) -> Any:
    """Return ``value`` as the job will receive it (tuples become lists)."""
    return json.loads(json.dumps(value))
