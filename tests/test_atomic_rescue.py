"""Rescue of atomic jobs: a dead worker's sessions are ended, and rescue never waits on a locked row."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from djobs.db import get_ops
from djobs.models import Job
from tests.factories import JobFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor == "sqlite", reason="sessions and row locks: PostgreSQL, MariaDB"),
]


@contextmanager
def in_another_session(
    work: Callable[[], None], before: Callable[[], None] = lambda: None
) -> Iterator[threading.Event]:
    """Run ``work`` in a thread's own connection and keep its transaction open until the block ends.

    ``before`` runs in that connection first, outside the transaction.
    """
    ready, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            before()
            with transaction.atomic():
                work()
                ready.set()
                release.wait(30)
        except BaseException as exc:  # the session may be ended under it
            errors.append(exc)
        finally:
            ready.set()
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert ready.wait(10)
        yield release
    finally:
        release.set()
        thread.join()


def test_rescue_skips_a_row_a_dead_workers_open_transaction_locks_and_takes_it_once_free() -> None:
    job = JobFactory(state="executing", worker_id="gone", attempt=1, attempted_at=timezone.now())
    ops = get_ops()
    with in_another_session(lambda: Job.objects.select_for_update().get(pk=job.pk)):
        started = time.monotonic()
        assert ops.job_rescue(now=timezone.now(), exclude_worker="me") == []
        assert time.monotonic() - started < 2
    assert [moved.id for moved in ops.job_rescue(now=timezone.now(), exclude_worker="me")] == [job.pk]


def test_a_dead_workers_atomic_job_sessions_are_ended_with_their_locks() -> None:
    ops = get_ops()
    ops.worker_register(worker_id="paused", hostname="h", pid=1, queues={}, now=timezone.now())
    job = JobFactory(state="executing", worker_id="paused", attempt=1, attempted_at=timezone.now())

    def register() -> None:  # as an atomic job does, before each transaction: named once
        ops.worker_session_register(worker_id="paused")
        ops.worker_session_register(worker_id="paused")

    def lock() -> None:
        Job.objects.select_for_update().get(pk=job.pk)

    with in_another_session(lock, before=register):
        deleted = ops.worker_delete_dead(heartbeats=ops.worker_heartbeats())
        assert list(deleted) == ["paused"] and len(deleted["paused"]) == 1
        assert ops.session_terminate(deleted["paused"]) == 1
        deadline = time.monotonic() + 10
        while not (moved := ops.job_rescue(now=timezone.now(), exclude_worker="me")):
            assert time.monotonic() < deadline, "the ended session's lock stayed"
            time.sleep(0.1)
    assert [m.id for m in moved] == [job.pk]
