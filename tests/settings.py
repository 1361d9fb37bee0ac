"""Test settings: the demo project plus an app holding the jobs the tests run."""

from testproject.settings import *  # noqa: F403
from testproject.settings import DJOBS, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}
# The demo's schedules are the demo's; tests declare the schedules they test.
DJOBS = {**DJOBS, "PERIODIC": {}}
# Test modules define django.tasks Tasks of their own; workers may import them.
DJOBS["TASK_MODULES"] = ["tests"]

# django.tasks (Django 6.0+, or the django-tasks backport) run on djobs in the tests.
from importlib.util import find_spec  # noqa: E402

if find_spec("django.tasks") or find_spec("django_tasks"):
    TASKS = {
        "default": {"BACKEND": "djobs.backends.JobsBackend", "QUEUES": ["default", "emails"]},
    }
    if not find_spec("django.tasks"):  # the backport's app registers its checks
        INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks"]
