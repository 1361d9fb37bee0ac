"""A burst run (``runjobs --burst``, ``run_burst``) ends only when nothing is left to run.

It ends on a stage of scheduled and retryable jobs that found none due, taken
moments before, after every queue came back empty: a retry that falls due
while other jobs still run is run in the same burst; one due later is not
waited for. While jobs are in flight
it stages a few times a second, not at every 10 ms tick.
"""

from __future__ import annotations

from typing import Any

import pytest

from djobs.db import get_ops
from djobs.models import Job
from djobs.worker import burst
from djobs.worker.runner import run_burst
from tests.testapp.worker_jobs import fails_once_briefly, slow

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_retry_falling_due_while_another_job_runs_is_run_in_the_same_burst() -> None:
    failing = fails_once_briefly.enqueue()
    sleeper = slow.enqueue(1.0)

    run_burst({"default": 2})

    failing.refresh_from_db()
    sleeper.refresh_from_db()
    assert (failing.state, failing.attempt, failing.result) == (Job.State.COMPLETED, 2, 2)
    assert sleeper.state == Job.State.COMPLETED


def test_a_retry_not_yet_due_when_the_queue_drained_is_left_for_the_next_run() -> None:
    failing = fails_once_briefly.enqueue()

    run_burst({"default": 1})

    failing.refresh_from_db()
    assert (failing.state, failing.attempt) == (Job.State.RETRYABLE, 1)


def test_while_a_job_runs_the_burst_stages_a_few_times_a_second_not_every_tick(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ops_class = type(get_ops())
    real_stage = ops_class.job_stage
    stages: list[Any] = []

    def counted(self: Any, **kwargs: Any) -> Any:
        stages.append(kwargs["now"])
        return real_stage(self, **kwargs)

    monkeypatch.setattr(ops_class, "job_stage", counted)
    slow.enqueue(1.5)

    run_burst({"default": 1})

    # 1.5 s of one running job: about every BUSY (0.25 s), where it used to be
    # every 10 ms tick (about 150).
    assert 3 <= len(stages) <= 1.5 / burst.BUSY + 6
    assert Job.objects.get().state == Job.State.COMPLETED
