"""Set a queue's concurrency per worker process, live, on every worker (--reset: as started)."""

from .queues import add_scale_arguments as add_arguments
from .queues import handle_scale as handle

__all__ = ["add_arguments", "handle"]
