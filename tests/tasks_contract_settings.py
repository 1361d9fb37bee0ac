"""Worker settings of the django.tasks contract tests: a second djobs alias and another backend."""

from importlib.util import find_spec

from tests.worker_settings import *  # noqa: F403
from tests.worker_settings import DJOBS

_DUMMY = "django.tasks" if find_spec("django.tasks") else "django_tasks"
TASKS = {
    "default": {"BACKEND": "djobs.backends.JobsBackend", "QUEUES": ["default", "emails"]},
    "secondary": {"BACKEND": "djobs.backends.JobsBackend", "QUEUES": ["default", "emails"]},
    "other": {"BACKEND": f"{_DUMMY}.backends.dummy.DummyBackend"},
}
DJOBS = {**DJOBS, "TASK_OPTIONS": {"tests.testapp.contract_tasks.sleeps": {"max_attempts": 1}}}
