"""Resume a paused queue on every worker."""

from .queues import add_resume_arguments as add_arguments
from .queues import handle_resume as handle

__all__ = ["add_arguments", "handle"]
