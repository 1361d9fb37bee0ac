"""Stager, rescuer and pruner: one round each, on real rows."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from djobs.db import get_ops
from djobs.hooks import TerminalHook, TerminalJob, hooks
from djobs.maintenance.pruner import Pruner, PrunerConfig
from djobs.maintenance.rescuer import Rescuer, RescuerConfig
from djobs.maintenance.stager import Stager
from djobs.models import Job
from djobs.states import states_mask
from djobs.transitions import Transition
from tests.factories import BatchFactory, JobFactory, WorkerProcessFactory

pytestmark = pytest.mark.django_db


def ago(seconds: float):  # type: ignore[no-untyped-def]
    return timezone.now() - timedelta(seconds=seconds)


WATCH = 0.2


def watched_rescue(rescuer: Rescuer | None = None):  # type: ignore[no-untyped-def]
    """Run a rescuer twice, WATCH seconds apart: it rescues only workers it saw stand still."""
    rescuer = rescuer or Rescuer(RescuerConfig(rescue_after=WATCH))
    first = rescuer.run_once()
    time.sleep(WATCH + 0.05)
    return first, rescuer.run_once()


def test_stager_makes_due_scheduled_and_retryable_jobs_available() -> None:
    due = JobFactory(state="scheduled", scheduled_at=ago(1))
    retry = JobFactory(state="retryable", scheduled_at=ago(1), queue="emails")
    later = JobFactory(state="scheduled", scheduled_at=ago(-3600))
    woken: list[str] = []
    result = Stager(on_staged=lambda queues: woken.extend(queues)).run_once()
    assert result.counts == {"default": 1, "emails": 1}
    assert sorted(woken) == ["default", "emails"]
    states = dict(Job.objects.values_list("id", "state"))
    assert states == {due.id: "available", retry.id: "available", later.id: "scheduled"}


def test_rescuer_gives_back_jobs_of_a_worker_whose_heartbeat_stood_still() -> None:
    dead = WorkerProcessFactory(heartbeat_at=ago(120))
    alive = WorkerProcessFactory(heartbeat_at=ago(1))
    started = ago(5)
    lost = JobFactory(state="executing", worker_id=dead.id, attempt=1, max_attempts=3, attempted_at=started)
    last = JobFactory(state="executing", worker_id=dead.id, attempt=3, max_attempts=3, attempted_at=started)
    kept = JobFactory(state="executing", worker_id=alive.id, attempt=1, attempted_at=started)
    seen: list[TerminalJob] = []
    hooks.add_terminal(TerminalHook(seen.extend))
    rescuer = Rescuer(RescuerConfig(rescue_after=WATCH))
    try:
        first = rescuer.run_once()
        time.sleep(WATCH + 0.05)
        get_ops().worker_heartbeat(worker_id=alive.id, hostname="h", pid=1, queues={}, now=timezone.now())
        result = rescuer.run_once()
    finally:
        hooks.remove_terminal(TerminalHook(seen.extend))
    # Nothing on the first look, however old the heartbeat: staleness is watched, not computed.
    assert first.counts == {"rescued": 0, "discarded": 0, "workers_deleted": 0}
    assert result.counts == {"rescued": 1, "discarded": 1, "workers_deleted": 1}
    lost.refresh_from_db()
    last.refresh_from_db()
    kept.refresh_from_db()
    assert (lost.state, lost.attempt, lost.worker_id) == ("available", 1, None)
    assert lost.errors[-1]["error"].startswith(f"WorkerLost: worker {dead.id} stopped heartbeating")
    assert (last.state, last.finished_at is not None) == ("discarded", True)
    assert kept.state == "executing"
    assert [(j.id, j.state) for j in seen] == [(last.id, "discarded")]


def test_rescued_job_that_never_started_gets_its_attempt_back() -> None:
    dead = WorkerProcessFactory()
    waiting = JobFactory(state="executing", worker_id=dead.id, attempt=1, max_attempts=1, attempted_at=None)
    watched_rescue()
    waiting.refresh_from_db()
    assert (waiting.state, waiting.attempt, waiting.worker_id) == ("available", 0, None)
    assert "claimed but never started, so the attempt is not counted" in waiting.errors[-1]["error"]
    assert waiting.errors[-1]["exception"] == "djobs.exceptions.WorkerLost"


def test_rescuer_never_rescues_the_jobs_of_its_own_worker() -> None:
    me = WorkerProcessFactory(heartbeat_at=ago(120))
    mine = JobFactory(state="executing", worker_id=me.id, attempt=1, attempted_at=ago(5))
    _, result = watched_rescue(Rescuer(RescuerConfig(rescue_after=WATCH), worker_id=me.id))
    assert result.counts == {"rescued": 0, "discarded": 0, "workers_deleted": 0}
    mine.refresh_from_db()
    assert (mine.state, mine.worker_id) == ("executing", me.id)


def test_rescuer_gives_back_jobs_held_by_no_known_worker() -> None:
    orphan = JobFactory(state="executing", worker_id="gone-1-abc", attempt=1)
    Rescuer().run_once()
    orphan.refresh_from_db()
    assert orphan.state == "available"


def test_rescued_jobs_late_outcome_is_not_recorded() -> None:
    ops = get_ops()
    JobFactory()
    worker = WorkerProcessFactory(heartbeat_at=ago(120))
    [claimed] = ops.job_claim(queue="default", limit=1, worker_id=worker.id, now=timezone.now())
    watched_rescue()
    done = Transition("completed", "completed", finished_at=timezone.now(), result=3)
    held = ops.job_record_outcomes(worker_id=worker.id, outcomes=[(claimed, done)])
    assert held == set()
    assert Job.objects.get(pk=claimed.pk).state == "available"


def test_outcome_of_an_older_attempt_is_not_recorded() -> None:
    ops = get_ops()
    WorkerProcessFactory(id="w1")
    JobFactory()
    [first] = ops.job_claim(queue="default", limit=1, worker_id="w1", now=timezone.now())
    Job.objects.filter(pk=first.pk).update(state="available")
    [second] = ops.job_claim(queue="default", limit=1, worker_id="w1", now=timezone.now())
    assert second.attempt == 2
    done = Transition("completed", "completed", finished_at=timezone.now(), result="old")
    assert ops.job_record_outcomes(worker_id="w1", outcomes=[(first, done)]) == set()
    assert ops.job_record_outcomes(worker_id="w1", outcomes=[(second, done)]) == {second.pk}


def test_unique_key_is_cleared_when_the_job_leaves_the_states_it_covers() -> None:
    ops = get_ops()
    WorkerProcessFactory(id="w1")
    covered = states_mask(["available", "executing"])
    job = JobFactory(unique_key="k" * 64, unique_states=covered)
    [claimed] = ops.job_claim(queue="default", limit=1, worker_id="w1", now=timezone.now())
    assert Job.objects.get(pk=job.pk).unique_key == "k" * 64
    done = Transition("completed", "completed", finished_at=timezone.now())
    ops.job_record_outcomes(worker_id="w1", outcomes=[(claimed, done)])
    row = Job.objects.get(pk=job.pk)
    assert (row.state, row.unique_key) == ("completed", None)


def test_unique_key_is_kept_in_a_covered_final_state() -> None:
    ops = get_ops()
    WorkerProcessFactory(id="w1")
    job = JobFactory(unique_key="c" * 64, unique_states=states_mask(["executing", "completed"]))
    [claimed] = ops.job_claim(queue="default", limit=1, worker_id="w1", now=timezone.now())
    done = Transition("completed", "completed", finished_at=timezone.now())
    ops.job_record_outcomes(worker_id="w1", outcomes=[(claimed, done)])
    assert Job.objects.get(pk=job.pk).unique_key == "c" * 64


def test_release_of_a_job_that_never_started_gives_its_attempt_back() -> None:
    ops = get_ops()
    WorkerProcessFactory(id="w1")
    JobFactory()
    [claimed] = ops.job_claim(queue="default", limit=1, worker_id="w1", now=timezone.now())
    assert Job.objects.get(pk=claimed.pk).attempted_at is None  # claimed, not started
    moved = ops.job_release(worker_id="w1", jobs=[(claimed.pk, 1)], now=timezone.now(), reason="stopped")
    assert [(m.id, m.state) for m in moved] == [(claimed.pk, "available")]
    row = Job.objects.get(pk=claimed.pk)
    assert (row.state, row.attempt, row.worker_id) == ("available", 0, None)
    assert row.errors[-1]["error"] == (
        "WorkerReleased: worker w1 stopped; it was claimed but never started, so the attempt is not counted"
    )


def test_release_of_a_started_job_keeps_the_attempt_and_discards_it_when_none_is_left() -> None:
    ops = get_ops()
    WorkerProcessFactory(id="w1")
    JobFactory(max_attempts=2)
    JobFactory(max_attempts=1)
    claimed = ops.job_claim(queue="default", limit=2, worker_id="w1", now=timezone.now())
    for job in claimed:
        job.attempted_at = timezone.now()
    ops.job_mark_started(worker_id="w1", started=claimed)
    moved = ops.job_release(
        worker_id="w1", jobs=[(j.pk, j.attempt) for j in claimed], now=timezone.now(), reason="shut down"
    )
    by_attempts = {Job.objects.get(pk=m.id).max_attempts: m.state for m in moved}
    assert by_attempts == {2: "available", 1: "discarded"}
    assert set(Job.objects.values_list("attempt", flat=True)) == {1}
    assert all("the attempt counts" in e[-1]["error"] for e in Job.objects.values_list("errors", flat=True))


def test_release_is_fenced_on_the_attempt_it_names() -> None:
    ops = get_ops()
    WorkerProcessFactory(id="w1")
    JobFactory()
    [claimed] = ops.job_claim(queue="default", limit=1, worker_id="w1", now=timezone.now())
    assert ops.job_release(worker_id="w1", jobs=[(claimed.pk, 7)], now=timezone.now(), reason="x") == []
    assert Job.objects.get(pk=claimed.pk).state == "executing"


def test_pruner_deletes_finished_jobs_past_retention_in_chunks() -> None:
    old = [JobFactory(state="completed", finished_at=ago(7200)) for _ in range(5)]
    recent = JobFactory(state="completed", finished_at=ago(10))
    discarded = JobFactory(state="discarded", finished_at=ago(7200))
    running = JobFactory(state="available")
    pruner = Pruner(PrunerConfig(retention={"completed": 3600, "discarded": None}, chunk_size=2))
    assert pruner.run_once().counts == {"completed": 5}
    remaining = set(Job.objects.values_list("id", flat=True))
    assert remaining == {recent.id, discarded.id, running.id}
    assert not remaining & {j.id for j in old}


def test_pruner_keeps_the_jobs_of_a_batch_that_is_not_finished() -> None:
    open_batch = BatchFactory(state="running")
    done_batch = BatchFactory(state="finished")
    kept = JobFactory(state="completed", finished_at=ago(7200), meta={"batch_id": str(open_batch.id)})
    gone = JobFactory(state="completed", finished_at=ago(7200), meta={"batch_id": str(done_batch.id)})
    stray = JobFactory(state="completed", finished_at=ago(7200), meta={"batch_id": str(uuid.uuid4())})
    Pruner(PrunerConfig(retention={"completed": 60})).run_once()
    remaining = set(Job.objects.values_list("id", flat=True))
    assert kept.id in remaining
    assert gone.id not in remaining and stray.id not in remaining


def test_service_configs_name_the_bad_field() -> None:
    with pytest.raises(ValueError, match="rescue_after"):
        RescuerConfig(rescue_after=0).validate()
    with pytest.raises(ValueError, match="retention has 'executing'"):
        PrunerConfig(retention={"executing": 1}).validate()
