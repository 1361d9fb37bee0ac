"""Binding a call's arguments to a job function's parameters, with errors that name the fix.

Python's own ``Signature.bind`` reports the first problem it meets: for
``sync_user.enqueue(usr_id=1)`` that is "missing a required argument:
'user_id'", while the mistake is the keyword. Unknown keywords are reported
first here, with the closest parameter name.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping, Sequence
from typing import Any


def unexpected_keywords(signature: inspect.Signature, kwargs: Mapping[str, Any]) -> str | None:
    """Describe the keywords ``signature`` cannot take, with a did-you-mean; None if all fit (pure)."""
    params = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    named = [n for n, p in params.items() if p.kind not in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL)]
    unknown = [key for key in kwargs if key not in named]
    if not unknown:
        return None
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, named, n=1)
        parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    noun = "an unexpected keyword argument" if len(parts) == 1 else "unexpected keyword arguments"
    takes = ", ".join(named) or "no keyword arguments"
    return f"got {noun} {', '.join(parts)}; it takes {takes}"


def bind_call(
    signature: inspect.Signature, label: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the arguments by parameter name; raise TypeError naming ``label`` and the fix."""
    problem = unexpected_keywords(signature, kwargs)
    if problem is None:
        try:
            return dict(signature.bind(*args, **kwargs).arguments)
        except TypeError as exc:
            problem = str(exc)
    raise TypeError(f"{label}: {problem}")


__all__ = ["bind_call", "unexpected_keywords"]
