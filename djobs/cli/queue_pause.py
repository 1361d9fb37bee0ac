"""Pause a queue on every worker: no new starts; running jobs finish; enqueueing still works."""

from .queues import add_pause_arguments as add_arguments
from .queues import handle_pause as handle

__all__ = ["add_arguments", "handle"]
