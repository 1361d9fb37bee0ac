"""Connect batches to enqueue and to the dispatcher; imported once from ``DjobsConfig.ready()``."""

from __future__ import annotations

from ..enqueue import after_insert_hooks
from ..worker.hooks import after_terminal, before_idle
from .completion import check_batches, flush_if_pending
from .tagging import count_inserted


def connect() -> None:
    """Register the batch hooks (idempotent)."""
    if count_inserted not in after_insert_hooks:
        after_insert_hooks.append(count_inserted)
    if check_batches not in after_terminal:
        after_terminal.append(check_batches)
    if flush_if_pending not in before_idle:
        before_idle.append(flush_if_pending)


connect()

__all__ = ["connect"]
