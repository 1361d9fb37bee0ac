"""The release paths: the dispatcher's release thread, and the sweep for releases lost to a crash."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from djobs import Workflow
from djobs.hooks import TerminalJob, hooks
from djobs.models import Job
from djobs.workflows.release import MISSED_AFTER, release_missed, releaser
from tests.testapp import workflow_jobs as wj

pytestmark = pytest.mark.django_db(transaction=True)


def pair() -> dict[str, Job]:
    wf = Workflow()
    wf.add("a", wj.step.new())
    wf.add("b", wj.step.new(), deps=["a"])
    return wf.enqueue()


def test_the_release_thread_releases_the_steps_the_recorder_hands_it() -> None:
    jobs = pair()
    a = jobs["a"]
    Job.objects.filter(pk=a.pk).update(state="completed", finished_at=timezone.now())
    hooks.after_terminal([TerminalJob(a.pk, "completed", a.queue, a.meta)], deferred=True)
    releaser.flush()
    assert Job.objects.get(pk=jobs["b"].pk).state == "available"
    assert not releaser.has_work()


def ended_long_ago() -> datetime:
    return timezone.now() - timedelta(seconds=MISSED_AFTER + 5)


def test_release_missed_finds_and_releases_a_step_whose_release_never_ran() -> None:
    jobs = pair()
    Job.objects.filter(pk=jobs["a"].pk).update(state="discarded", finished_at=ended_long_ago())
    assert release_missed() == 1
    b = Job.objects.get(pk=jobs["b"].pk)
    assert b.state == "cancelled" and "dependency 'a'" in b.errors[-1]["error"]
    assert release_missed() == 0


def test_a_job_outside_any_workflow_costs_the_hook_no_query(django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    job = wj.step.enqueue()
    with django_assert_num_queries(0):
        hooks.after_terminal([TerminalJob(job.pk, "completed", job.queue, job.meta)], deferred=True)


def test_the_workflow_sweeper_service_releases_what_a_crash_left_waiting() -> None:
    from djobs.maintenance.workflow_sweeper import WorkflowSweeper, WorkflowSweeperConfig

    jobs = pair()
    Job.objects.filter(pk=jobs["a"].pk).update(state="completed", finished_at=ended_long_ago())
    sweeper = WorkflowSweeper()
    assert sweeper.run_once().counts == {"released": 1}
    assert Job.objects.get(pk=jobs["b"].pk).state == "available"
    assert sweeper.run_once().counts == {"released": 0}
    with pytest.raises(ValueError, match=r"WorkflowSweeperConfig.limit=0"):
        WorkflowSweeper(WorkflowSweeperConfig(limit=0))
    with pytest.raises(ValueError, match=r"WorkflowSweeperConfig.grace=-1"):
        WorkflowSweeper(WorkflowSweeperConfig(grace=-1))


def test_the_sweeper_leaves_a_step_that_just_ended_to_the_release_thread_and_warns_of_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The recorder committed the outcome and handed the step to the release
    # thread, which has not run it yet: a burst, not a lost release.
    from djobs.maintenance.workflow_sweeper import WorkflowSweeper

    jobs = pair()
    a = jobs["a"]
    Job.objects.filter(pk=a.pk).update(state="completed", finished_at=timezone.now())
    with caplog.at_level("WARNING", logger="djobs"):
        assert WorkflowSweeper().run_once().counts == {"released": 0}
    assert "missed" not in caplog.text
    assert Job.objects.get(pk=jobs["b"].pk).state == "waiting"
    hooks.after_terminal([TerminalJob(a.pk, "completed", a.queue, a.meta)], deferred=True)
    releaser.flush()
    assert Job.objects.get(pk=jobs["b"].pk).state == "available"


def test_runjobs_runs_the_workflow_sweeper() -> None:
    from djobs.conf import get_settings
    from djobs.maintenance.services import default_services

    assert "workflow_sweeper" in [service.name for service in default_services(get_settings())]
