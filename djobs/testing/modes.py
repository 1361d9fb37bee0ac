"""Switch ``DJOBS["TESTING"]`` for one test or one block: ``with testing_mode("inline"): ...``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test.utils import override_settings

from ..conf import TESTING_MODES


def testing_mode(mode: str | None) -> override_settings:
    """Return an override of ``DJOBS["TESTING"]``: a context manager and a decorator.

    ::

        with testing_mode("inline"):
            send_welcome.enqueue(42)      # has run when enqueue returns

    ``"manual"`` inserts jobs and runs nothing (what enqueue does anyway
    without a worker; run them with ``drain_queue``); ``"inline"`` runs each
    job at enqueue; ``None`` is normal operation. The other ``DJOBS`` keys are
    kept; djobs' settings cache is reset on entry and exit.
    """
    if mode is not None and mode not in TESTING_MODES:
        raise ValueError(f"testing_mode({mode!r}): use 'manual', 'inline' or None.")
    current: dict[str, Any] = dict(getattr(settings, "DJOBS", {}) or {})
    current["TESTING"] = mode
    return override_settings(DJOBS=current)


# Its name starts with "test": keep pytest from collecting it where tests import it.
testing_mode.__test__ = False  # type: ignore[attr-defined]

__all__ = ["testing_mode"]
