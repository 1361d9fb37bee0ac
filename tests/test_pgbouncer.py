"""runjobs behind PgBouncer in transaction pooling mode (DJOBS["TRANSACTION_POOLING"]).

The test process reaches PostgreSQL directly (DATABASE_URL); the runjobs
subprocesses reach the same test database through the PgBouncer named by
DJOBS_TEST_PGBOUNCER_URL (its database name is replaced by the test database's),
such as the one .ci/pgbouncer.sh starts:

    .ci/pgbouncer.sh
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/djobs \\
    DJOBS_TEST_PGBOUNCER_URL=postgres://postgres@127.0.0.1:6432/djobs \\
    .venv/bin/python -m pytest tests/test_pgbouncer.py -q

Skipped without DJOBS_TEST_PGBOUNCER_URL, except under CI, where they must run.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from django.db import connection

from djobs.batches import batch
from djobs.models import Job, PeriodicSchedule, WorkerProcess
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import batch_jobs, worker_jobs
from tests.testapp.jobs import add
from tests.testapp.models import Marker

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BOUNCER_URL = os.environ.get("DJOBS_TEST_PGBOUNCER_URL", "")
SETTINGS = "tests.pgbouncer_worker_settings"
PREPARED_ERRORS = ("prepared statement", "_pg3_")


@pytest.fixture(autouse=True)
def bouncer() -> Iterator[None]:
    if not BOUNCER_URL:
        why = (
            "DJOBS_TEST_PGBOUNCER_URL is not set: start PgBouncer with .ci/pgbouncer.sh and set "
            "DJOBS_TEST_PGBOUNCER_URL=postgres://postgres@127.0.0.1:6432/djobs"
        )
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(why)
        pytest.skip(why)
    yield
    # PgBouncer keeps idle server sessions on the test database; they would stop
    # the next test's flush and the final DROP DATABASE. PgBouncer opens new ones.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def pooled(*args: str, **env: str) -> RunJobs:
    return RunJobs(*args, DJANGO_SETTINGS_MODULE=SETTINGS, **env)


def listening_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query ILIKE 'LISTEN%%'"
        )
        return int(cursor.fetchone()[0])


def test_a_burst_behind_pgbouncer_drains_jobs_of_every_outcome() -> None:
    completed = add.enqueue_many([(i, 1) for i in range(300)])
    failing = worker_jobs.always_fails.enqueue("boom")
    cancelled = worker_jobs.cancels.enqueue("no longer wanted")
    discarded = worker_jobs.discards.enqueue("bad input")
    snoozed = worker_jobs.snoozes.enqueue(3600)
    retried = worker_jobs.sleeps_on_first_attempt.enqueue(0)
    # The prepare_threshold that makes the control below fail: the setting keeps
    # djobs' statements unprepared even where the project enables prepared statements.
    workers = [
        pooled("--burst", "--queue", "default=4", DJOBS_TEST_PREPARE_THRESHOLD="1000000") for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.wait(60) == 0, worker.output()[-3000:]
            assert not any(e in worker.output() for e in PREPARED_ERRORS), worker.output()[-3000:]
            assert "could not" not in worker.output(), worker.output()[-3000:]
    finally:
        for worker in workers:
            worker.stop()
    assert Job.objects.filter(pk__in=[j.pk for j in completed], state="completed").count() == 300
    states = dict(
        Job.objects.filter(
            pk__in=[failing.pk, cancelled.pk, discarded.pk, snoozed.pk, retried.pk]
        ).values_list("id", "state")
    )
    assert states == {
        failing.pk: "discarded",
        cancelled.pk: "cancelled",
        discarded.pk: "discarded",
        snoozed.pk: "scheduled",
        retried.pk: "completed",
    }
    assert Job.objects.get(pk=failing.pk).attempt == 3


def test_an_idle_worker_behind_pgbouncer_wakes_for_a_new_job_without_listen() -> None:
    # POLL_INTERVAL 30 s: only the change counter (every WAKE_POLL_INTERVAL) can wake it in time.
    worker = pooled("--queue", "default=2", DJOBS_POLL_INTERVAL="30")
    try:
        wait_until(lambda: WorkerProcess.objects.exists(), timeout=30, what="start-up")
        time.sleep(1)  # past its first claim: only a wake-up can start the job now
        job = add.enqueue(2, 3)
        wait_until(
            lambda: Job.objects.filter(pk=job.pk, state="completed").exists(),
            timeout=5,
            what="the job to run",
        )
        assert listening_sessions() == 0
        worker.signal(signal.SIGTERM)
        assert worker.wait(30) == 0, worker.output()
    finally:
        worker.stop()


def test_a_batch_behind_pgbouncer_enqueues_its_callback_once() -> None:
    total = 500
    with batch(on_complete=batch_jobs.report, description="pooled") as b:
        batch_jobs.work.enqueue_many([(i,) for i in range(total)])
        batch_jobs.fails.enqueue(-1)
    for _ in range(3):
        workers = [pooled("--burst", "--queue", "default=4") for _ in range(2)]
        try:
            for worker in workers:
                assert worker.wait(60) == 0, worker.output()[-3000:]
        finally:
            for worker in workers:
                worker.stop()
        if not Job.objects.filter(state__in=["available", "retryable"]).exists():
            break
    row = b.row
    assert row.state == "finished", row
    assert row.counts == {"completed": total, "discarded": 1, "cancelled": 0}
    callbacks = Job.objects.filter(meta__callback_of=b.key)
    assert callbacks.count() == 1
    assert callbacks.get().state == "completed"


def ticks() -> list[datetime]:
    values = Job.objects.filter(meta__periodic="every-second").values_list("meta__tick", flat=True)
    return sorted(datetime.fromisoformat(value) for value in values)


def test_periodic_ticks_behind_pgbouncer_are_enqueued_once_across_two_workers() -> None:
    workers = []
    try:
        for n in (1, 2):
            workers.append(pooled("--queue", "default=2", DJOBS_TEST_PERIODIC="1"))
            wait_until(lambda n=n: WorkerProcess.objects.count() >= n, timeout=30, what="start-up")
        wait_until(lambda: len(ticks()) >= 5, timeout=30, what="five ticks")
        for worker in workers:
            worker.signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(30) == 0, worker.output()[-3000:]
    finally:
        for worker in workers:
            worker.stop()
    seen = ticks()
    assert len(seen) == len(set(seen)), f"a tick was enqueued twice: {seen}"
    assert seen == [seen[0] + timedelta(seconds=i) for i in range(len(seen))], seen
    assert PeriodicSchedule.objects.get().last_run_at == seen[-1]


def test_the_jobs_of_a_sigkilled_worker_behind_pgbouncer_are_rescued() -> None:
    job = worker_jobs.sleeps_on_first_attempt.enqueue(30)
    first = pooled("--queue", "default=1")
    second = None
    try:
        wait_until(
            lambda: (
                Marker.objects.filter(name="attempt 1", job_id=job.id).exists()
                and Job.objects.filter(pk=job.pk, attempted_at__isnull=False).exists()
            ),
            what="the job to start",
        )
        first.signal(signal.SIGKILL)
        first.wait(5)
        second = pooled("--queue", "default=1", DJOBS_RESCUE_AFTER="1", DJOBS_HEARTBEAT_INTERVAL="0.2")
        wait_until(
            lambda: Job.objects.filter(pk=job.pk, state="completed").exists(),
            timeout=20,
            what="the rescued job to complete",
        )
        job.refresh_from_db()
        assert (job.attempt, job.result) == (2, 2)
        assert "stopped heartbeating" in job.errors[-1]["error"]
        second.signal(signal.SIGTERM)
        assert second.wait(20) == 0, second.output()
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_without_transaction_pooling_an_idle_worker_behind_pgbouncer_never_hears_its_listen() -> None:
    # The control for the wake-up test above: the same worker with the setting off.
    # Its LISTEN lands on a server session PgBouncer lends to others once the
    # statement ends, so the NOTIFY of a new job never reaches it.
    worker = pooled("--queue", "default=2", DJOBS_POLL_INTERVAL="30", DJOBS_TRANSACTION_POOLING="0")
    try:
        wait_until(lambda: WorkerProcess.objects.exists(), timeout=30, what="start-up")
        time.sleep(1)  # past its first claim, and its LISTEN is sent
        job = add.enqueue(2, 3)
        time.sleep(5)
        assert Job.objects.get(pk=job.pk).state == "available", worker.output()
    finally:
        worker.stop()


def test_without_transaction_pooling_prepared_claims_fail_behind_pgbouncer() -> None:
    # The control for the prepared statements: without TRANSACTION_POOLING djobs
    # prepares its hot statements, even under Django's default prepare_threshold
    # (None, which prepares nothing). Then the named statements reach server
    # sessions that never prepared them, or that prepared another statement
    # under the same name: PgBouncer 1.18 does not track them. With
    # TRANSACTION_POOLING djobs never prepares.
    add.enqueue_many([(i, 1) for i in range(2000)])
    workers = [pooled("--burst", "--queue", "default=4", DJOBS_TRANSACTION_POOLING="0") for _ in range(2)]

    def outputs() -> str:
        return "\n".join(worker.output() for worker in workers)

    try:
        wait_until(lambda: 'prepared statement "_pg3_' in outputs(), timeout=30, what=outputs()[-3000:])
    finally:
        for worker in workers:
            worker.stop()
