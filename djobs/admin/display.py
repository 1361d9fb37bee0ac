"""How jobs, batches and durations look in the admin: small pure functions returning safe HTML."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..states import JobState

# Drawing order of a progress bar: finished work first, then what is left.
PROGRESS_ORDER: tuple[str, ...] = (
    JobState.COMPLETED,
    JobState.DISCARDED,
    JobState.CANCELLED,
    "finished",
    JobState.EXECUTING,
    JobState.AVAILABLE,
    JobState.RETRYABLE,
    JobState.SCHEDULED,
)


def state_badge(state: str) -> SafeString:
    """Return a coloured badge for a job state."""
    label = JobState(state).label if state in JobState.values else state
    return format_html('<span class="djobs-badge djobs-state-{}">{}</span>', state, label)


def pretty_json(value: Any) -> str:
    """Return ``value`` as indented JSON text (escape it when rendering)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def format_duration(seconds: float | None) -> str:
    """Return a short human duration: ``"850 ms"``, ``"12.3 s"``, ``"4 min 5 s"``, ``"2 h 3 min"``."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def duration_between(start: datetime | None, end: datetime | None) -> float | None:
    """Return seconds from ``start`` to ``end``, or None when either is missing."""
    if start is None or end is None:
        return None
    return max((end - start) / timedelta(seconds=1), 0.0)


def error_line(errors: Any) -> str:
    """Return the first line of a job's last error, or ``""``."""
    if not errors or not isinstance(errors, list):
        return ""
    last = errors[-1]
    text = str(last.get("error", "")) if isinstance(last, dict) else str(last)
    return text.strip().splitlines()[0] if text.strip() else ""


def progress_bar(counts: Mapping[str, int], size: int | None = None) -> SafeString:
    """Return a bar with one segment per state, widths proportional to ``counts``."""
    total = max(size or 0, sum(counts.values()))
    if total <= 0:
        return format_html('<div class="djobs-progress djobs-progress-empty">{}</div>', "no jobs")
    segments = [
        (state, counts[state], f"{100.0 * counts[state] / total:.2f}")
        for state in (*PROGRESS_ORDER, *sorted(set(counts) - set(PROGRESS_ORDER)))
        if counts.get(state)
    ]
    bar = format_html_join(
        "",
        '<span class="djobs-seg djobs-state-{}" style="width:{}%" title="{}: {}"></span>',
        ((state, width, state, n) for state, n, width in segments),
    )
    legend = format_html_join(
        " ",
        '<span class="djobs-legend djobs-state-{}">{} {}</span>',
        ((state, n, state) for state, n, _ in segments),
    )
    return format_html('<div class="djobs-progress">{}</div><div class="djobs-legends">{}</div>', bar, legend)
