"""How jobs, batches and durations look in the admin: small pure functions returning safe HTML."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

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


def exact_time(value: datetime, zone: Any = None) -> str:
    """Return ``value`` to the millisecond with its zone: ``2026-01-05 09:10:11.123 UTC``."""
    local = timezone.localtime(value, zone)
    return f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d} {local.tzname()}"


def relative_words(seconds: float) -> str:
    """Return a short age for ``seconds`` (>= 0), with seconds where they tell times apart."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 10:
        return f"{minutes} min {secs} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def relative_time(value: datetime | None, now: datetime | None = None) -> SafeString:
    """Return ``12 s ago`` or ``in 4 min 5 s``, with the exact time on hover; ``-`` for None."""
    if value is None:
        return mark_safe("-")
    delta = ((now or timezone.now()) - value) / timedelta(seconds=1)
    words = f"{relative_words(delta)} ago" if delta >= 0 else f"in {relative_words(-delta)}"
    return format_html(
        '<time class="djobs-time" datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        exact_time(value),
        words,
    )


def job_name(path: str) -> SafeString:
    """Return a job path's function name, with the whole dotted path on hover."""
    name = path.rpartition(".")[2]
    return format_html('<span class="djobs-job-name" title="{}">{}</span>', path, name or path)


def dotted_breaks(path: str) -> SafeString:
    """Return ``path`` escaped, with a line-break opportunity after each dot (never mid-word)."""
    return mark_safe(".<wbr>".join(escape(part) for part in path.split(".")))


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
