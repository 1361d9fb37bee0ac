"""Atomic jobs in-process: the fence, the accounting inside the transaction, errors after the commit."""

from __future__ import annotations

import logging
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from djobs import batch
from djobs.batches import store
from djobs.db import get_ops
from djobs.models import Batch, Job
from djobs.worker import atomic
from djobs.worker.executor import _decide, execute
from djobs.worker.runner import run_burst
from tests.testapp import atomic_jobs
from tests.testapp.models import Effect

pytestmark = pytest.mark.django_db(transaction=True)


def executing(job: Job, worker: str = "me", **meta: Any) -> Job:
    """Move ``job`` to executing under ``worker`` at attempt 1, as a claim and start would."""
    Job.objects.filter(pk=job.pk).update(
        state="executing", worker_id=worker, attempt=1, attempted_at=timezone.now(), meta=meta or {}
    )
    return Job.objects.get(pk=job.pk)


def run_atomic(job: Job, worker: str = "me", recorder: Any = None) -> Any:
    completion = atomic.AtomicCompletion(get_ops(), worker, recorder or mock.Mock(), mock.Mock(interval=100))
    return atomic.run(
        job,
        lambda: execute(job, round_trip_arguments=False),
        lambda execution: _decide(job, execution, timezone.now()),
        completion,
    )


@pytest.mark.parametrize("stale", ["worker", "attempt"])
def test_an_attempt_no_longer_held_is_fenced_and_leaves_the_job_unchanged(
    stale: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="djobs")
    job = executing(atomic_jobs.write_then_sleep.enqueue(0))
    before = Job.objects.filter(pk=job.pk).values().get()
    if stale == "worker":
        run_atomic(job, worker="other")
    else:
        job.attempt = 2  # the row is at attempt 1: this is a rescued attempt's late copy
        run_atomic(job)
    assert Effect.objects.count() == 0
    assert Job.objects.filter(pk=job.pk).values().get() == before
    assert "was fenced" in caplog.text
    assert atomic.settled(job)


def test_the_attempt_held_commits_its_writes_with_its_completion() -> None:
    job = executing(atomic_jobs.write_then_sleep.enqueue(0))
    run_atomic(job)
    assert Job.objects.get(pk=job.pk).state == "completed"
    assert Effect.objects.filter(job_id=job.pk).count() == 1


def test_an_on_commit_callback_raising_after_the_commit_reports_the_job_completed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="djobs")
    job = executing(atomic_jobs.write_then_failing_on_commit.enqueue())
    recorder = mock.Mock()
    _, transition = run_atomic(job, recorder=recorder)
    assert Job.objects.get(pk=job.pk).state == "completed"
    assert (transition.state, atomic.settled(job)) == ("completed", True)
    recorder.written.assert_called_once_with(job, transition)
    assert Effect.objects.filter(job_id=job.pk).count() == 1
    assert "raised after its commit" in caplog.text and "an on_commit callback failed" in caplog.text


def test_a_job_outside_batches_and_workflows_opens_no_savepoint_for_its_meta() -> None:
    plain = executing(atomic_jobs.noop.enqueue())
    traced = executing(atomic_jobs.noop.enqueue(), traceparent="00-abc-def-01")
    with CaptureQueriesContext(connection) as without_meta:
        run_atomic(plain)
    with CaptureQueriesContext(connection) as with_meta:
        run_atomic(traced)

    def savepoints(queries: CaptureQueriesContext) -> int:
        return sum("SAVEPOINT" in query["sql"].upper() for query in queries.captured_queries)

    assert savepoints(with_meta) == savepoints(without_meta)
    assert set(Job.objects.values_list("state", flat=True)) == {"completed"}


def test_a_failing_batch_check_inside_the_transaction_still_completes_the_job(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="djobs")
    finish_if_done = store.finish_if_done

    def failing_inside_transactions(key: str) -> Any:
        if connection.in_atomic_block:
            with connection.cursor() as cursor:  # a real error: PostgreSQL aborts the transaction
                cursor.execute("SELECT * FROM djobs_no_such_table")
        return finish_if_done(key)

    with batch(on_complete=atomic_jobs.batch_done) as group:
        jobs = [atomic_jobs.write_and_enqueue.enqueue() for _ in range(2)]
    monkeypatch.setattr(store, "finish_if_done", failing_inside_transactions)
    run_burst({"atomic": 1})
    rows = list(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("state", "attempt", "errors"))
    assert rows == [("completed", 1, []), ("completed", 1, [])]
    assert Effect.objects.count() == 2
    assert "djobs_no_such_table" in caplog.text  # the real error, not "transaction is aborted"
    assert Job.objects.filter(path=atomic_jobs.batch_done.path).count() == 1  # after the commit
    assert Batch.objects.get(pk=group.id).state == "finished"


def test_a_batch_of_atomic_jobs_on_several_threads_runs_its_callback_once() -> None:
    with batch(on_complete=atomic_jobs.batch_done) as group:
        for _ in range(12):
            atomic_jobs.write_and_enqueue.enqueue()
    run_burst({"atomic": 4})
    assert Job.objects.filter(path=atomic_jobs.batch_done.path).count() == 1
    assert Effect.objects.count() == 12
    assert Batch.objects.get(pk=group.id).state == "finished"


@pytest.mark.skipif(
    "connection.vendor == 'sqlite'",
    reason="the atomic job's transaction holds SQLite's only write lock: the operator's cancel waits for it",
)
def test_an_operator_cancel_racing_the_completion_rolls_back_and_is_not_logged_as_a_rescue(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="djobs")
    job = executing(atomic_jobs.cancelled_while_running.enqueue())
    run_atomic(job)
    assert Job.objects.get(pk=job.pk).state == "cancelled"
    assert not Effect.objects.exists()
    assert atomic.settled(job)
    assert "cancelled by an operator as it completed" in caplog.text
    assert "was fenced" not in caplog.text


@pytest.mark.skipif(
    "connection.vendor != 'sqlite'", reason="SQLite's BEGIN IMMEDIATE waits for the write lock"
)
def test_a_transaction_that_cannot_begin_gives_the_attempt_back(caplog: pytest.LogCaptureFixture) -> None:
    import sqlite3

    caplog.set_level(logging.WARNING, logger="djobs")
    job = executing(atomic_jobs.write_then_sleep.enqueue(0))
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the only write lock
    try:
        connection.ensure_connection()
        connection.connection.execute("PRAGMA busy_timeout = 200")
        _, transition = run_atomic(job)
    finally:
        other.execute("ROLLBACK")
        other.close()
        connection.close()
    assert (transition.state, transition.attempt_delta, transition.error) == ("scheduled", -1, None)
    assert not atomic.settled(job)  # the recorder writes the give-back
    assert not Effect.objects.exists()
    assert "could not begin" in caplog.text and "OPTIONS timeout" in caplog.text


def test_sqlite_busy_overruns_are_the_atomic_jobs_whose_timeout_exceeds_the_busy_timeout() -> None:
    from djobs.checks import sqlite_busy_overruns

    timeouts = {"a.long": 30.0, "a.short": 2.0, "a.unbounded": None, "a.equal": 5.0}
    assert sqlite_busy_overruns(timeouts, 5.0) == {"a.long": 30.0}


@pytest.mark.skipif("connection.vendor != 'sqlite'", reason="SQLite's busy timeout")
def test_an_atomic_job_timeout_above_the_sqlite_busy_timeout_is_a_warning_naming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.conf import settings

    from djobs.checks import check_atomic_jobs

    options = dict(settings.DATABASES["default"].get("OPTIONS") or {}, timeout=0.5)
    monkeypatch.setitem(settings.DATABASES["default"], "OPTIONS", options)
    warnings = [m for m in check_atomic_jobs() if m.id == "djobs.W031"]
    assert [m.msg.split(" has ")[0] for m in warnings] == [
        f"@job(atomic=True) {atomic_jobs.write_then_overrun.path}"
    ]
    assert "timeout of 1s, above the SQLite busy timeout of 0.5s" in warnings[0].msg
    assert "['OPTIONS']['timeout'] to at least 1" in warnings[0].hint


@pytest.mark.skipif("connection.vendor == 'sqlite'", reason="row locks: PostgreSQL and MariaDB")
def test_an_atomic_jobs_lock_wait_ends_with_its_timeout() -> None:
    import threading
    import time

    from django.db import connections, transaction

    lock = Effect.objects.create(job_id=0, attempt=0)
    job = executing(atomic_jobs.write_then_lock.enqueue(lock.pk))
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Effect.objects.select_for_update().get(pk=lock.pk)
                held.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        job.__dict__[atomic.DEADLINE] = time.monotonic() + 1.0
        started = time.monotonic()
        _, transition = run_atomic(job)
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join()
    assert transition.state == "retryable", transition
    assert waited < 5, waited  # not the database's default (PostgreSQL: forever, MariaDB: 50 s)
    assert not Effect.objects.filter(job_id=job.pk).exists()
