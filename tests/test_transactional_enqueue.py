"""Enqueue joins the caller's transaction: a rollback leaves no job, a commit wakes workers."""

from __future__ import annotations

import select

import pytest
from django.db import connection, transaction

from djobs.db.postgres_wakeups import NOTIFY_CHANNEL
from djobs.models import Job
from tests.testapp.jobs import add, sync_user


class Boom(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_no_job() -> None:
    with pytest.raises(Boom), transaction.atomic():
        add.enqueue(1, 2)
        add.enqueue_many([(3, 4), (5, 6)])
        sync_user.enqueue(1)
        assert Job.objects.count() == 4  # visible inside the transaction
        raise Boom
    assert Job.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_committed_transaction_keeps_its_jobs() -> None:
    with transaction.atomic():
        add.enqueue(1, 2)
    assert Job.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoint_drops_only_its_own_jobs() -> None:
    with transaction.atomic():
        add.enqueue(1, 1)
        with pytest.raises(Boom), transaction.atomic():
            add.enqueue(2, 2)
            raise Boom
    assert list(Job.objects.values_list("args", flat=True)) == [[1, 1]]


def _listen() -> object:
    import psycopg

    settings = connection.settings_dict
    listener = psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=True,
    )
    listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
    return listener


def _notifications(listener, timeout: float) -> list[str]:  # type: ignore[no-untyped-def]
    if not select.select([listener.fileno()], [], [], timeout)[0]:
        return []
    return [n.payload for n in listener.notifies(timeout=0.05)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_enqueue_notifies_listeners_at_commit_and_not_before() -> None:
    listener = _listen()
    try:
        with transaction.atomic():
            add.using(queue="math").enqueue(1, 2)
            assert _notifications(listener, 0.2) == []
        assert _notifications(listener, 2.0) == ["math"]
    finally:
        listener.close()  # type: ignore[attr-defined]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_enqueue_sends_no_notification() -> None:
    listener = _listen()
    try:
        with pytest.raises(Boom), transaction.atomic():
            add.enqueue(1, 2)
            raise Boom
        assert _notifications(listener, 0.3) == []
    finally:
        listener.close()  # type: ignore[attr-defined]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_scheduled_job_sends_no_wake_up() -> None:
    listener = _listen()
    try:
        add.using(schedule_in=60).enqueue(1, 2)
        assert _notifications(listener, 0.3) == []
    finally:
        listener.close()  # type: ignore[attr-defined]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_single_enqueue_outside_a_transaction_is_one_statement_that_notifies() -> None:
    from django.test.utils import CaptureQueriesContext

    listener = _listen()
    try:
        with CaptureQueriesContext(connection) as queries:
            job = add.using(queue="math").enqueue(1, 2)
        assert len(queries) == 1, [q["sql"] for q in queries]
        assert "pg_notify" in queries[0]["sql"]
        assert Job.objects.get(pk=job.pk).args == [1, 2]
        assert _notifications(listener, 2.0) == ["math"]
    finally:
        listener.close()  # type: ignore[attr-defined]
