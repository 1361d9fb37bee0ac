"""DJOBS["TRANSACTION_POOLING"]: validated, warned about off PostgreSQL, and what it switches off.

The runs behind a real PgBouncer are in tests/test_pgbouncer.py.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from djobs.checks import check_settings, check_transaction_pooling
from djobs.conf import get_settings
from djobs.db import get_ops
from djobs.worker.runner import Runner
from tests.testapp.jobs import add


def test_transaction_pooling_is_off_by_default() -> None:
    with override_settings(DJOBS={}):
        assert get_settings().TRANSACTION_POOLING is False


def test_a_transaction_pooling_that_is_not_a_bool_is_an_error_naming_the_value_and_the_fix() -> None:
    with override_settings(DJOBS={"TRANSACTION_POOLING": "yes"}):
        errors = [(e.id, e.msg) for e in check_settings()]
    assert len(errors) == 1
    check_id, message = errors[0]
    assert check_id == "djobs.E003"
    assert "DJOBS['TRANSACTION_POOLING'] is 'yes'" in message and "use True" in message


def test_transaction_pooling_on_a_database_that_is_not_postgresql_is_a_warning(on_postgres: bool) -> None:
    with override_settings(DJOBS={"TRANSACTION_POOLING": True}):
        warnings = check_transaction_pooling()
    if on_postgres:
        assert warnings == []
    else:
        assert [w.id for w in warnings] == ["djobs.W003"]
        assert "changes nothing" in warnings[0].msg
        assert "PgBouncer" in (warnings[0].hint or "")
    with override_settings(DJOBS={"TRANSACTION_POOLING": False}):
        assert check_transaction_pooling() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_behind_a_transaction_pooler_the_worker_watches_a_change_counter_instead_of_listening() -> None:
    with override_settings(DJOBS={"TRANSACTION_POOLING": False, "QUEUES": {"default": 1}}):
        ops = get_ops()
        assert (ops.supports_listen, ops.supports_change_counter) == (True, False)
        assert Runner(queues={"default": 1}, install_signals=False).notifier is not None
    with override_settings(
        DJOBS={"TRANSACTION_POOLING": True, "QUEUES": {"default": 1}, "WAKE_POLL_INTERVAL": 0.001}
    ):
        ops = get_ops()
        assert (ops.supports_listen, ops.supports_change_counter) == (False, True)
        assert Runner(queues={"default": 1}, install_signals=False).notifier is None
        before = ops.change_counter()
        add.enqueue(1, 2)
        connection.close()  # the counter is read on a fresh connection, as a worker's would be
        time.sleep(0.01)
        assert ops.change_counter() != before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_behind_a_transaction_pooler_the_dispatcher_leaves_its_session_as_it_found_it() -> None:
    from djobs.db.base import dispatcher_thread

    def synchronous_commit_after_a_claim() -> str:
        connection.close()
        add.enqueue(1, 2)
        assert len(get_ops().job_claim(queue="default", limit=1, worker_id="w", now=timezone.now())) == 1
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return str(cursor.fetchone()[0])

    dispatcher_thread.active = True
    try:
        # Connected directly, the dispatcher's session skips the WAL flush (ASYNC_COMMIT);
        # behind a pooler that SET would stay on a server session lent to other clients.
        with override_settings(DJOBS={"TRANSACTION_POOLING": False, "ASYNC_COMMIT": True}):
            assert synchronous_commit_after_a_claim() == "off"
        with override_settings(DJOBS={"TRANSACTION_POOLING": True, "ASYNC_COMMIT": True}):
            assert synchronous_commit_after_a_claim() == "on"
    finally:
        dispatcher_thread.active = False
        connection.close()
