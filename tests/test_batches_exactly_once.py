"""Exactly once under races: many hooks at once, a crash before the hook, jobs joining at the end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from djobs.batches import get_batch, open_batch
from djobs.batches.completion import check_batches
from djobs.batches.store import finish_if_done
from djobs.hooks import TerminalJob
from djobs.maintenance.batch_sweeper import BatchSweeper, BatchSweeperConfig
from djobs.models import Batch, Job
from tests.factories import JobFactory
from tests.testapp import batch_jobs

pytestmark = pytest.mark.django_db(transaction=True)

REPORT = "tests.testapp.batch_jobs.report"


def sealed_batch(states: list[str], **callbacks: Any) -> Any:
    """Return a sealed batch whose jobs are already in ``states`` (no hook has run)."""
    b = open_batch(**callbacks)
    jobs = [JobFactory(state=state, meta={"batch_id": b.key}) for state in states]
    Batch.objects.filter(pk=b.id).update(state="running", size=len(jobs))
    return b, jobs


def callbacks_of(b: Any, kind: str) -> list[Job]:
    return [j for j in Job.objects.filter(meta__callback_of=b.key) if j.meta["batch_callback"] == kind]


def at_once(n: int, fn: Callable[[], object]) -> list[BaseException]:
    """Run ``fn`` in ``n`` threads released together; return what they raised."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(10)
            fn()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads), "a hook thread hung"
    return errors


def test_many_workers_finishing_the_last_jobs_at_once_enqueue_each_callback_once() -> None:
    b, jobs = sealed_batch(["completed"] * 8, on_complete=REPORT, on_success=REPORT)
    ended = [TerminalJob(j.id, "completed", "default", j.meta) for j in jobs]
    errors = at_once(8, lambda: check_batches(ended))
    assert errors == []
    assert b.row.state == "finished"
    assert len(callbacks_of(b, "on_complete")) == 1
    assert len(callbacks_of(b, "on_success")) == 1


def test_many_workers_discarding_at_once_fire_on_discard_once() -> None:
    b, jobs = sealed_batch(["discarded"] * 6 + ["available"], on_discard=REPORT, on_complete=REPORT)
    ended = [TerminalJob(j.id, j.state, "default", j.meta) for j in jobs[:6]]
    errors = at_once(6, lambda: check_batches(ended))
    assert errors == []
    assert b.row.state == "running" and b.row.discarded_at is not None
    assert len(callbacks_of(b, "on_discard")) == 1
    assert callbacks_of(b, "on_complete") == []


def test_a_hook_called_twice_for_the_same_jobs_fires_nothing_twice() -> None:
    b, jobs = sealed_batch(["completed", "cancelled"], on_discard=REPORT, on_complete=REPORT)
    ended = [TerminalJob(j.id, j.state, "default", j.meta) for j in jobs]
    check_batches(ended)
    check_batches(ended)
    assert len(callbacks_of(b, "on_discard")) == 1
    assert len(callbacks_of(b, "on_complete")) == 1


def test_a_job_joining_while_the_batch_finishes_is_waited_for() -> None:
    b, _ = sealed_batch(["completed"], on_complete=REPORT)
    joined, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def join_and_hold() -> None:
        try:
            with transaction.atomic():
                get_batch(b.key).enqueue(batch_jobs.work, 2)  # grows the batch row, holding it
                joined.set()
                release.wait(10)
        finally:
            connection.close()

    def finish() -> None:
        try:
            finished.append(finish_if_done(b.key))
        finally:
            connection.close()

    holder = threading.Thread(target=join_and_hold)
    holder.start()
    assert joined.wait(10)
    finisher = threading.Thread(target=finish)
    finisher.start()
    finisher.join(0.5)  # on PostgreSQL it now waits for the row; on SQLite for the write lock
    release.set()
    holder.join(10)
    finisher.join(30)
    assert finished == [False]
    assert (b.row.state, b.row.size) == ("running", 2)
    assert callbacks_of(b, "on_complete") == []


def test_the_sweeper_finishes_a_batch_whose_hook_was_lost_in_a_crash() -> None:
    b, _ = sealed_batch(["completed", "discarded"], on_complete=REPORT, on_discard=REPORT)
    sweeper = BatchSweeper()
    assert sweeper.run_once().counts == {"finished": 1}
    row = b.row
    assert row.state == "finished" and row.discarded_at is not None
    assert row.counts == {"completed": 1, "discarded": 1, "cancelled": 0}
    # The lost hook would also have fired on_discard: it fires at the finish instead.
    assert len(callbacks_of(b, "on_discard")) == 1
    assert len(callbacks_of(b, "on_complete")) == 1
    assert sweeper.run_once().counts == {"finished": 0}
    assert len(callbacks_of(b, "on_complete")) == 1


def test_the_sweeper_leaves_batches_with_active_jobs_and_checks_every_batch_in_turn() -> None:
    waiting = [sealed_batch(["available"])[0] for _ in range(2)]
    done, _ = sealed_batch(["completed"], on_complete=REPORT)
    sweeper = BatchSweeper(BatchSweeperConfig(limit=2))
    first = sweeper.run_once()
    second = sweeper.run_once()
    assert (first.counts["finished"], second.counts["finished"]) == (0, 1)
    assert [Batch.objects.get(pk=w.id).state for w in waiting] == ["running", "running"]
    assert done.row.state == "finished"


def test_sweeper_config_names_the_bad_field() -> None:
    with pytest.raises(ValueError, match=r"BatchSweeperConfig.limit=0"):
        BatchSweeper(BatchSweeperConfig(limit=0))
