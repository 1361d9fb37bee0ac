"""Small filters for the dashboard templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template

from ..admin.display import format_duration

register = template.Library()


@register.filter
def index(sequence: Any, i: int) -> Any:
    return sequence[i]


@register.filter
def get(mapping: Any, key: str) -> Any:
    return mapping.get(key)


@register.filter
def total(counts: Any, state: str) -> Any:
    return counts.total(state)


@register.filter
def seconds(value: float | None) -> str:
    return format_duration(value)


@register.filter
def until(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "-"
    return format_duration(max((when - now).total_seconds(), 0.0))


@register.filter
def queues(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{q}={n}" for q, n in sorted(value.items()))
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value or "")
