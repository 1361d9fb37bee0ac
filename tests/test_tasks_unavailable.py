"""Without django.tasks (Django 5.2, no backport) djobs.backends says what to install."""

from __future__ import annotations

import importlib
from importlib.util import find_spec

import pytest
from django.core.exceptions import ImproperlyConfigured

pytestmark = pytest.mark.skipif(
    bool(find_spec("django.tasks") or find_spec("django_tasks")),
    reason="django.tasks is available here",
)


def test_importing_the_backend_without_django_tasks_names_the_fix() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"Django 6\.0 or later.*pip install django-tasks") as info:
        importlib.import_module("djobs.backends")
    assert isinstance(info.value, ModuleNotFoundError)
    assert info.value.name == "django.tasks"


def test_djobs_starts_and_discovers_no_tasks_modules_without_django_tasks() -> None:
    from djobs import registry
    from djobs.tasks_compat.discovery import uses_jobs_backend

    assert not uses_jobs_backend()
    assert not any(path.startswith("tests.testapp.tasks.") for path in registry.registered_paths())
