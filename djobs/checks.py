"""System checks: every bad ``DJOBS`` value is reported with a stable id."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from .conf import validate


@register("djobs")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = getattr(settings, "DJOBS", {})
    errors: list[CheckMessage] = [
        Error(problem.message, hint=problem.hint or None, id=problem.id) for problem in validate(raw)
    ]
    # Periodic schedules (djobs.E010-E016); a non-dict PERIODIC is already E005 above.
    if isinstance(raw, dict) and isinstance(raw.get("PERIODIC"), dict):
        from .periodic.config import validate_periodic

        errors += [
            Error(problem.message, hint=problem.hint or None, id=problem.id)
            for problem in validate_periodic(raw["PERIODIC"])
        ]
    return errors
