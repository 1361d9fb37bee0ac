"""Which django.tasks Tasks the worker may import by their path, and importing them.

A worker runs what its registry holds. A ``Task`` enqueued through
:class:`djobs.backends.JobsBackend` is also found by its stored module path,
on one rule: the module belongs to an installed app (``myapp`` or
``myapp.anything``) or is listed in ``DJOBS["TASK_MODULES"]``, and the
attribute it names is a ``django.tasks.Task`` (never any other callable). So a
task declared for another backend, or in a module nothing imports at start-up,
runs as Django's own backends would run it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.apps import apps

from ..exceptions import UnknownTaskError

if TYPE_CHECKING:
    from .runner import TaskJobFunction


def allowed_module(module: str) -> bool:
    """Say whether Tasks may be imported from ``module``: an installed app's, or in DJOBS['TASK_MODULES']."""
    from ..conf import get_settings

    prefixes = [config.name for config in apps.get_app_configs()]
    prefixes += list(get_settings().TASK_MODULES)
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def module_rule_error(path: str) -> str | None:
    """Return why the Task at ``path`` may not be imported by a worker, or None when it may."""
    module = path.rpartition(".")[0]
    if "<locals>" in path or not module:
        return "it is not defined at the top level of a module. Move it to a module of an installed app."
    if not allowed_module(module):
        return (
            f"its module {module!r} is not part of an installed app, so a worker will not import it. "
            f"Move the task into an installed app, or add {module!r} to DJOBS['TASK_MODULES']."
        )
    return None


def import_task(path: str) -> TaskJobFunction:
    """Import the Task at ``path`` under the module rule and register it; raise UnknownTaskError."""
    from .api import Task
    from .priority import job_priority
    from .runner import register_task

    why = module_rule_error(path)
    if why:
        raise UnknownTaskError(path, why)
    module_name, _, name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownTaskError(
            path, f"its module {module_name!r} cannot be imported ({exc}). Deploy it to the worker."
        ) from exc
    found = getattr(module, name, None)
    if not isinstance(found, Task):
        raise UnknownTaskError(
            path,
            f"{module_name}.{name} is {type(found).__name__ if found is not None else 'missing'}, "
            "not a django.tasks Task. Decorate it with @task from django.tasks.",
        )
    return register_task(found, job_priority=job_priority(int(found.priority)))


def resolve(path: str, meta: Mapping[str, Any]) -> TaskJobFunction | None:
    """The registry's resolver: import rows enqueued as django.tasks Tasks, leave every other path alone."""
    if "django_task" not in meta:
        return None
    return import_task(path)


__all__ = ["allowed_module", "import_task", "module_rule_error", "resolve"]
