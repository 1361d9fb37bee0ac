"""List the queues: paused or running, concurrency, limits."""

from .queues import add_list_arguments as add_arguments
from .queues import handle_list as handle

__all__ = ["add_arguments", "handle"]
