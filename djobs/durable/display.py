"""A job's saved progress as the admin page and ``manage.py jobs progress`` show it (pure)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import JobProgress

# A step's result is shown up to this many characters.
RESULT_CHARS = 200


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= RESULT_CHARS else text[: RESULT_CHARS - 1] + "…"


def progress_view(row: JobProgress | None) -> dict[str, Any] | None:
    """Return the steps done (with their results), the iterations and the interruptions, or None."""
    if row is None:
        return None
    return {
        "steps": [{"name": str(name), "result": _short(result)} for name, result in row.steps],
        "iterations": [
            {
                "name": str(name),
                "cursor": _short(state.get("cursor")),
                "items": int(state.get("items") or 0),
                "done": bool(state.get("done")),
            }
            for name, state in sorted(row.iterations.items())
        ],
        "interruptions": row.interruptions,
        "updated_at": row.updated_at,
    }


def progress_lines(job_id: int, row: JobProgress | None) -> list[str]:
    """Return the lines ``manage.py jobs progress`` prints for one job."""
    view = progress_view(row)
    if view is None:
        return [f"job {job_id}: no saved progress"]
    lines = [f"job {job_id}: {view['interruptions']} interruption(s), saved {view['updated_at'].isoformat()}"]
    lines += [f"  step {s['name']}: done, result {s['result']}" for s in view["steps"]]
    lines += [
        f"  each {i['name']}: {i['items']} item(s), {'done' if i['done'] else 'at'} cursor {i['cursor']}"
        for i in view["iterations"]
    ]
    return lines


__all__ = ["progress_lines", "progress_view"]
