"""The registry of ``@job`` functions: the only code the dispatcher will ever run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .exceptions import JobDefinitionError, UnknownJobError

if TYPE_CHECKING:
    from .decorators import JobFunction

_registry: dict[str, JobFunction] = {}


def register(job_function: JobFunction) -> None:
    """Register ``job_function`` under its path; a different function may not take it."""
    existing = _registry.get(job_function.path)
    if existing is not None and existing.func is not job_function.func:
        same_place = (existing.func.__module__, existing.func.__qualname__) == (
            job_function.func.__module__,
            job_function.func.__qualname__,
        )
        if not same_place:  # a module reloaded by the autoreloader re-registers itself
            raise JobDefinitionError(
                f"Two @job functions claim the path {job_function.path!r}: "
                f"{existing.func.__module__}.{existing.func.__qualname__} and "
                f"{job_function.func.__module__}.{job_function.func.__qualname__}. "
                "Give one of them another name with @job(name=...)."
            )
    _registry[job_function.path] = job_function


def unregister(path: str) -> None:
    """Forget ``path`` (for tests that define jobs on the fly)."""
    _registry.pop(path, None)


def lookup(path: str) -> JobFunction:
    """Return the job registered as ``path``; raise UnknownJobError, never import it."""
    try:
        return _registry[path]
    except KeyError:
        raise UnknownJobError(path) from None


def is_registered(path: str) -> bool:
    return path in _registry


def registered_paths() -> list[str]:
    return sorted(_registry)
