"""A worker's own view of its liveness: the heartbeat's trust window and orphan repair."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from djobs.db import get_ops
from djobs.models import Job, WorkerProcess
from djobs.worker.heartbeat import Heartbeat
from djobs.worker.holdings import Holdings
from djobs.worker.orphans import OrphanRepair
from tests.factories import JobFactory, WorkerProcessFactory

pytestmark = pytest.mark.django_db(transaction=True)


def heartbeat(worker_id: str = "w1", rescue_after: float = 2.0) -> Heartbeat:
    return Heartbeat(
        get_ops(), worker_id=worker_id, hostname="h", queues={}, interval=0.5, rescue_after=rescue_after
    )


def test_a_heartbeat_writes_the_database_clock_and_moves_the_value_rescuers_watch() -> None:
    WorkerProcessFactory(id="w1", heartbeat_at=timezone.now().replace(year=2000))
    before = get_ops().worker_heartbeats()["w1"]
    assert heartbeat().beat()
    after = get_ops().worker_heartbeats()["w1"]
    assert after != before
    assert abs((WorkerProcess.objects.get(id="w1").heartbeat_at - timezone.now()).total_seconds()) < 5


def test_the_worker_trusts_what_it_holds_for_half_of_rescue_after_since_its_last_beat() -> None:
    WorkerProcessFactory(id="w1")
    beat = heartbeat(rescue_after=2.0)
    beat.beat()
    assert beat.fresh()
    beat.last_ok -= 1.1  # as if paused for longer than RESCUE_AFTER / 2
    assert not beat.fresh()


def test_a_beat_after_a_lapse_starts_a_new_epoch_so_claimed_jobs_are_checked_again() -> None:
    WorkerProcessFactory(id="w1")
    beat = heartbeat(rescue_after=2.0)
    beat.beat()
    assert beat.epoch == 0
    beat.last_ok -= 1.5
    assert beat.beat()
    assert (beat.epoch, beat.fresh()) == (1, True)


def test_a_worker_presumed_dead_re_registers_and_starts_a_new_epoch() -> None:
    WorkerProcessFactory(id="w1")
    beat = heartbeat()
    WorkerProcess.objects.filter(id="w1").delete()
    assert beat.beat()
    assert beat.epoch == 1
    assert WorkerProcess.objects.filter(id="w1").exists()


def test_an_executing_row_the_worker_does_not_hold_is_released_after_two_rounds() -> None:
    WorkerProcessFactory(id="w1")
    orphan = JobFactory(state="executing", worker_id="w1", attempt=1, attempted_at=None)
    held = JobFactory(state="executing", worker_id="w1", attempt=1, attempted_at=timezone.now())
    holdings = Holdings()
    holdings.add([held.pk])
    repair = OrphanRepair("w1", holdings)
    # One round could race a claim whose rows are not handed over yet: nothing yet.
    assert repair.run_once().counts == {"orphans_released": 0}
    assert Job.objects.get(pk=orphan.pk).state == "executing"
    assert repair.run_once().counts == {"orphans_released": 1}
    orphan.refresh_from_db()
    assert (orphan.state, orphan.attempt, orphan.worker_id) == ("available", 0, None)
    assert "(an orphan: a claim's reply or an outcome was lost)" in orphan.errors[-1]["error"]
    assert Job.objects.get(pk=held.pk).state == "executing"


def test_a_row_that_becomes_held_between_rounds_is_not_released() -> None:
    WorkerProcessFactory(id="w1")
    late = JobFactory(state="executing", worker_id="w1", attempt=1)
    holdings = Holdings()
    repair = OrphanRepair("w1", holdings)
    repair.run_once()
    holdings.add([late.pk])  # the claim's rows reached the producer meanwhile
    assert repair.run_once().counts == {"orphans_released": 0}
    assert Job.objects.get(pk=late.pk).state == "executing"


def test_wait_fresh_returns_once_a_beat_lands() -> None:
    WorkerProcessFactory(id="w1")
    beat = heartbeat(rescue_after=0.6)
    beat.last_ok -= 1.0
    beat.interval = 0.05
    beat.start()
    try:
        started = time.monotonic()
        beat.last_ok -= 1.0  # start() counts as a beat; make it stale again
        assert beat.wait_fresh(2.0)
        assert time.monotonic() - started < 1.0
    finally:
        beat.stop()
