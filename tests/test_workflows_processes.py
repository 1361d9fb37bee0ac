"""Workflows under real ``runjobs`` processes: start and end times come from Marker rows the steps write."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

import pytest

from djobs import Workflow, chain
from djobs.models import Job
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import workflow_jobs as wj
from tests.testapp.models import Marker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def times() -> dict[tuple[str, str, str], list[datetime]]:
    """Return ``(event, workflow id, step) -> [times]`` from the markers."""
    seen: dict[tuple[str, str, str], list[datetime]] = defaultdict(list)
    for name, at in Marker.objects.values_list("name", "created_at"):
        event, workflow, step = name.split(":")
        seen[(event, workflow, step)].append(at)
    return seen


def all_ended() -> bool:
    return not Job.objects.exclude(state__in=["completed", "discarded", "cancelled"]).exists()


def test_runjobs_starts_each_step_of_a_chain_after_its_predecessor_finished(
    runjobs: Callable[..., RunJobs],
) -> None:
    wf = chain(*(wj.step.new(i, pause=0.05) for i in range(4)), name="four")
    wf.enqueue()
    worker = runjobs("--queue", "default=4")
    wait_until(all_ended, timeout=60, what="the chain to end")
    worker.stop()
    seen = times()
    key = str(wf.id)
    for before, after in zip("123", "234", strict=True):
        assert seen[("start", key, after)][0] >= seen[("end", key, before)][0], (before, after)
    assert all(len(at) == 1 for at in seen.values())
    assert set(Job.objects.values_list("state", flat=True)) == {"completed"}


def diamond(i: int) -> Workflow:
    wf = Workflow(f"diamond {i}")
    wf.add("top", wj.step.new(i, pause=0.01))
    wf.add("left", wj.step.new("l", pause=0.02), deps=["top"])
    wf.add("right", wj.step.new("r", pause=0.01), deps=["top"])
    wf.add("bottom", wj.collect.new(), deps=["left", "right"])
    return wf


def test_runjobs_runs_a_diamond_and_a_failure_cancels_the_rest(runjobs: Callable[..., RunJobs]) -> None:
    good = diamond(0)
    good_jobs = good.enqueue()
    bad = Workflow("bad")
    bad.add("top", wj.fail.new())
    bad.add("next", wj.step.new(), deps=["top"])
    bad.add("last", wj.step.new(), deps=["next"])
    bad_jobs = bad.enqueue()
    worker = runjobs("--queue", "default=4")
    wait_until(all_ended, timeout=60, what="both workflows to end")
    worker.stop()
    assert Job.objects.get(pk=good_jobs["bottom"].pk).result == {"left": "l", "right": "r"}
    assert [Job.objects.get(pk=bad_jobs[n].pk).state for n in ("top", "next", "last")] == [
        "discarded",
        "cancelled",
        "cancelled",
    ]


@pytest.mark.postgres
def test_three_processes_run_50_diamonds_each_step_once_and_each_bottom_after_both_sides(
    runjobs: Callable[..., RunJobs],
) -> None:
    workflows = [diamond(i) for i in range(50)]
    for wf in workflows:
        wf.enqueue()
    workers = [runjobs("--queue", "default=4") for _ in range(3)]
    wait_until(all_ended, timeout=120, what="50 diamonds to end")
    for worker in workers:
        worker.stop()
    assert Job.objects.filter(state="completed").count() == 200
    seen = times()
    starts = [at for (event, _, _), at in seen.items() if event == "start"]
    assert len(starts) == 200 and all(len(at) == 1 for at in starts)  # every step ran exactly once
    for wf in workflows:
        key = str(wf.id)
        bottom = seen[("start", key, "bottom")][0]
        assert bottom >= seen[("end", key, "left")][0] and bottom >= seen[("end", key, "right")][0]
        assert seen[("start", key, "left")][0] >= seen[("end", key, "top")][0]
