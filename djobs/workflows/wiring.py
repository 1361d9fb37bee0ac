"""Connect workflows to the dispatcher; called once from ``DjobsConfig.ready()``."""

from __future__ import annotations

from ..hooks import Hooks, TerminalHook
from .release import flush_if_pending, release_later, release_now

TERMINAL = TerminalHook(release_now, later=release_later, in_transaction=True)


def connect(hooks: Hooks) -> None:
    """Register the workflow hooks on ``hooks`` (idempotent)."""
    hooks.add_terminal(TERMINAL)
    hooks.add_idle(flush_if_pending)


__all__ = ["connect"]
