"""Import every installed app's ``tasks.py`` when a ``TASKS`` backend is djobs'.

The worker only runs functions it has registered, and a django.tasks Task
registers itself when its module is imported. ``jobs.py`` modules are always
autodiscovered; ``tasks.py`` modules only when ``TASKS`` names a
:class:`djobs.backends.JobsBackend`, so projects that keep Celery or other
code in ``tasks.py`` and do not use django.tasks with djobs import nothing new.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import autodiscover_modules, import_string


def uses_jobs_backend() -> bool:
    """Say whether any ``TASKS`` alias is served by a djobs backend (or a subclass of it)."""
    configured = getattr(settings, "TASKS", None)
    if not isinstance(configured, dict):
        return False
    paths = {str(params.get("BACKEND", "")) for params in configured.values() if isinstance(params, dict)}
    # Django's and the backport's own backends cannot be djobs': no import needed for them.
    paths = {path for path in paths if path and not path.startswith(("django.tasks.", "django_tasks."))}
    if not paths:
        return False
    try:
        from djobs.backends import JobsBackend
    except ImportError:  # no django.tasks: Django's own check reports the TASKS setting
        return False
    for path in sorted(paths):
        try:
            backend = import_string(path)
        except ImportError:
            continue
        if isinstance(backend, type) and issubclass(backend, JobsBackend):
            return True
    return False


def autodiscover_tasks() -> None:
    """Import ``<app>.tasks`` for every installed app when djobs runs django.tasks."""
    if uses_jobs_backend():
        autodiscover_modules("tasks")


__all__ = ["autodiscover_tasks", "uses_jobs_backend"]
