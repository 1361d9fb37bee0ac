"""Connect batches to enqueue and to the dispatcher; called once from ``DjobsConfig.ready()``."""

from __future__ import annotations

from ..hooks import Hooks, InsertHook, TerminalHook
from .completion import (
    check_batches,
    check_batches_later,
    check_batches_within,
    flush_if_pending,
    lock_batches,
)
from .tagging import count_inserted, tagged

INSERT = InsertHook(count_inserted, applies=tagged)
TERMINAL = TerminalHook(
    check_batches,
    later=check_batches_later,
    in_transaction=True,
    prepare=lock_batches,
    within=check_batches_within,
)


def connect(hooks: Hooks) -> None:
    """Register the batch hooks on ``hooks`` (idempotent)."""
    hooks.add_insert(INSERT)
    hooks.add_terminal(TERMINAL)
    hooks.add_idle(flush_if_pending)


__all__ = ["connect"]
