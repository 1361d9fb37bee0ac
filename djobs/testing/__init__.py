"""Helpers for testing code that uses djobs: assertions, running jobs in the test, modes.

::

    from djobs.testing import assert_enqueued, drain_queue, perform_job

    def test_signup_sends_the_welcome_email(db):
        signup("ada@example.com")
        assert_enqueued(job=send_welcome, kwargs={"email": "ada@example.com"}, queue="emails")
        assert drain_queue("emails") == {"completed": 1}

See the testing guide (docs/guide/testing.md). Names are imported on first
use, so the pytest plugin (``djobs.testing.pytest_plugin``) can be loaded
before Django is configured, in projects that do not use djobs at all.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .assertions import all_enqueued, assert_enqueued, refute_enqueued
    from .case import JobsTestCaseMixin
    from .drain import MAX_RUNS, DrainLoopError, DrainResult, adrain_queue, drain_queue
    from .durable import interrupt_job
    from .matching import ANY_STATE, WAITING_STATES
    from .modes import testing_mode
    from .perform import PerformResult, aperform_job, perform_job
    from .workflows import assert_workflow, workflow_steps

_LAZY = {
    "all_enqueued": "assertions",
    "assert_enqueued": "assertions",
    "refute_enqueued": "assertions",
    "JobsTestCaseMixin": "case",
    "MAX_RUNS": "drain",
    "DrainLoopError": "drain",
    "DrainResult": "drain",
    "drain_queue": "drain",
    "adrain_queue": "drain",
    "interrupt_job": "durable",
    "ANY_STATE": "matching",
    "WAITING_STATES": "matching",
    "testing_mode": "modes",
    "PerformResult": "perform",
    "perform_job": "perform",
    "aperform_job": "perform",
    "assert_workflow": "workflows",
    "workflow_steps": "workflows",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'djobs.testing' has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "ANY_STATE",
    "MAX_RUNS",
    "WAITING_STATES",
    "DrainLoopError",
    "DrainResult",
    "JobsTestCaseMixin",
    "PerformResult",
    "adrain_queue",
    "all_enqueued",
    "aperform_job",
    "assert_enqueued",
    "assert_workflow",
    "drain_queue",
    "interrupt_job",
    "perform_job",
    "refute_enqueued",
    "testing_mode",
    "workflow_steps",
]
