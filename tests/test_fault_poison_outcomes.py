"""Outcomes a database cannot store as they are (NUL, lone surrogates) are kept escaped, not retried forever.

PostgreSQL's jsonb refuses ``\\u0000`` and unpaired surrogates: one such outcome
in a batch used to fail the whole write, again and again, wedging every job
behind it. The text is kept with the character spelled as a backslash escape.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from djobs.models import Job
from tests.fault_support import FAST, in_state
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import fault_jobs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TERMINAL = ("completed", "discarded", "cancelled")


def run_with_jobs_behind(runjobs: Callable[..., RunJobs], poison: list[Job]) -> list[Job]:
    """Run ``poison`` and ordinary jobs enqueued after them; return the ordinary ones."""
    behind = fault_jobs.tick.enqueue_many([()] * 5)
    worker = runjobs("--queue", "default=2", **FAST)
    wait_until(lambda: in_state([*poison, *behind], *TERMINAL), timeout=10, what="every job to finish")
    assert in_state(behind, "completed"), worker.output()
    for job in poison:
        job.refresh_from_db()
    return behind


def test_results_holding_nul_or_a_lone_surrogate_are_kept_escaped(runjobs: Callable[..., RunJobs]) -> None:
    nul = fault_jobs.returns_nul.enqueue()
    nested = fault_jobs.returns_nested_nul.enqueue()
    surrogate = fault_jobs.returns_surrogate.enqueue()
    run_with_jobs_behind(runjobs, [nul, nested, surrogate])
    assert (nul.state, nul.result) == ("completed", "a\\x00b")
    assert (nested.state, nested.result) == ("completed", {"text": "a\\x00b", "items": ["c\\x00d"]})
    assert (surrogate.state, surrogate.result) == ("completed", "x\\ud800y")


def test_errors_holding_nul_or_a_lone_surrogate_are_kept_escaped(runjobs: Callable[..., RunJobs]) -> None:
    nul = fault_jobs.raises_nul.enqueue()
    cause = fault_jobs.raises_from_nul.enqueue()
    surrogate = fault_jobs.raises_surrogate.enqueue()
    run_with_jobs_behind(runjobs, [nul, cause, surrogate])
    assert {job.state for job in (nul, cause, surrogate)} == {"discarded"}
    assert nul.errors[-1]["error"] == "ValueError: a\\x00b"
    assert "ValueError: a\\x00b" in nul.errors[-1]["traceback"]
    # Only the traceback (the cause) holds the NUL here.
    assert cause.errors[-1]["error"] == "RuntimeError: wrapped"
    assert "ValueError: a\\x00b" in cause.errors[-1]["traceback"]
    assert surrogate.errors[-1]["error"] == "ValueError: x\\ud800y"
    assert "ValueError: x\\ud800y" in surrogate.errors[-1]["traceback"]
    for job in (nul, cause, surrogate):
        assert "\x00" not in job.errors[-1]["traceback"]
        assert "\ud800" not in job.errors[-1]["traceback"]
