"""Connect batches to enqueue and to the dispatcher; imported once from ``DjobsConfig.ready()``."""

from __future__ import annotations

from ..enqueue import after_insert_hooks
from ..worker.hooks import after_terminal
from .completion import check_batches
from .tagging import count_inserted


def connect() -> None:
    """Register the batch hooks (idempotent)."""
    if count_inserted not in after_insert_hooks:
        after_insert_hooks.append(count_inserted)
    if check_batches not in after_terminal:
        after_terminal.append(check_batches)


connect()

__all__ = ["connect"]
