"""The registry of ``@job`` functions: the only code the dispatcher will ever run.

A path that is not registered is never imported blindly. Resolvers may find
it by a narrower rule of their own: djobs' ``django.tasks`` backend imports a
``Task`` object of an installed app's module for rows enqueued as tasks
(:mod:`djobs.tasks_compat.resolve`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .exceptions import JobDefinitionError, UnknownJobError

if TYPE_CHECKING:
    from .decorators import JobFunction

_registry: dict[str, JobFunction] = {}

#: ``resolver(path, meta)`` returns the entry for an unregistered path or None;
#: it may raise UnknownJobError (or a subclass) to say why it cannot.
Resolver = Callable[[str, Mapping[str, Any]], "JobFunction | None"]
_resolvers: list[Resolver] = []


def add_resolver(resolver: Resolver) -> None:
    """Ask ``resolver`` for paths that are not registered (once per resolver)."""
    if resolver not in _resolvers:
        _resolvers.append(resolver)


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


def lookup(path: str, meta: Mapping[str, Any] | None = None) -> JobFunction:
    """Return the job registered as ``path`` (or found by a resolver for a row's ``meta``).

    Raise UnknownJobError; nothing is imported except by a resolver's own rule.
    """
    try:
        return _registry[path]
    except KeyError:
        pass
    for resolver in list(_resolvers):
        found = resolver(path, meta or {})
        if found is not None:
            return found
    raise UnknownJobError(path)


def is_registered(path: str) -> bool:
    return path in _registry


def registered_paths() -> list[str]:
    return sorted(_registry)


def is_atomic(path: str) -> bool:
    """Say whether ``path`` is registered with ``@job(atomic=True)`` (an unknown path is not)."""
    job_function = _registry.get(path)
    return bool(getattr(job_function, "atomic", False))


def atomic_paths() -> list[str]:
    """Return the registered paths declared with ``@job(atomic=True)``, sorted."""
    return [path for path in sorted(_registry) if is_atomic(path)]
