"""The single enqueue's kept state: what it reuses between calls never outlives what it depends on.

An Enqueuer keeps its validated options (djobs.enqueue.reused_builder), djobs
keeps one ops object per database alias, and on PostgreSQL one driver cursor
per connection for the single insert. Each is dropped when the settings, the
batch context or the connection it was built for changes.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

import djobs
from djobs.db import get_ops
from djobs.models import Job
from tests.testapp.jobs import add

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_changed_default_queue_reaches_the_next_enqueue_of_the_same_function() -> None:
    first = add.enqueue(1, 2)
    with override_settings(DJOBS={"DEFAULT_QUEUE": "elsewhere"}):
        moved = add.enqueue(3, 4)
    back = add.enqueue(5, 6)

    assert [first.queue, moved.queue, back.queue] == ["default", "elsewhere", "default"]
    assert Job.objects.get(pk=moved.pk).queue == "elsewhere"


def test_jobs_enqueued_inside_a_batch_are_tagged_after_the_same_function_ran_outside_it() -> None:
    before = add.enqueue(1, 1)
    with djobs.batch() as batch:
        inside = add.enqueue(2, 2)
    after = add.enqueue(3, 3)

    assert "batch_id" not in Job.objects.get(pk=before.pk).meta
    assert Job.objects.get(pk=inside.pk).meta["batch_id"] == str(batch.id)
    assert "batch_id" not in Job.objects.get(pk=after.pk).meta


def test_changing_one_pending_jobs_meta_or_tags_leaves_the_next_job_of_the_function_alone() -> None:
    first = add.new(1, 2)
    first.meta["mine"] = True
    first.tags.append("mine")

    second = add.new(3, 4)

    assert second.meta == {}
    assert second.tags == []


def test_meta_given_to_using_is_read_at_each_enqueue_so_later_changes_to_it_apply() -> None:
    meta = {"round": 1}
    enqueuer = add.using(meta=meta)
    first = enqueuer.enqueue(1, 1)
    meta["round"] = 2
    second = enqueuer.enqueue(2, 2)

    assert Job.objects.get(pk=first.pk).meta["round"] == 1
    assert Job.objects.get(pk=second.pk).meta["round"] == 2


def test_bad_options_are_refused_at_every_enqueue_not_only_the_first() -> None:
    enqueuer = add.using(priority=12)
    for _ in range(2):
        with pytest.raises(djobs.EnqueueError, match="priority=12"):
            enqueuer.enqueue(1, 2)
    assert Job.objects.count() == 0


def test_the_single_insert_is_seen_by_query_logging_and_execute_wrappers() -> None:
    add.enqueue(0, 0)  # the kept cursor exists before the logging starts
    seen: list[str] = []

    def wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        seen.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(wrapper):
        job = add.enqueue(1, 2)

    assert any("INSERT INTO djobs_job" in query["sql"] for query in captured.captured_queries)
    assert any("INSERT INTO djobs_job" in sql for sql in seen)
    assert Job.objects.filter(pk=job.pk).exists()


def test_enqueue_after_the_connection_was_closed_opens_a_new_one_and_inserts() -> None:
    add.enqueue(1, 1)
    connection.close()

    job = add.enqueue(2, 2)

    assert Job.objects.get(pk=job.pk).args == [2, 2]


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_ops_are_built_again_when_the_databases_setting_changes(settings) -> None:  # type: ignore[no-untyped-def]
    kept = get_ops()
    assert get_ops() is kept
    settings.DATABASES = {**settings.DATABASES}

    assert get_ops() is not kept
    assert add.enqueue(1, 2).pk is not None


def _prepared_on_this_connection(fragment: str) -> int:
    with connection.cursor() as cursor:
        sql = "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s"
        cursor.execute(sql, [f"%{fragment}%"])
        return int(cursor.fetchone()[0])


@pytest.mark.postgres
def test_the_single_insert_is_prepared_once_per_connection_and_the_projects_setting_is_kept() -> None:
    connection.ensure_connection()
    assert connection.connection.prepare_threshold is None  # Django's default: psycopg prepares nothing

    jobs = [add.enqueue(i, i) for i in range(3)]

    assert _prepared_on_this_connection("INSERT INTO djobs_job") == 1
    assert connection.connection.prepare_threshold is None
    assert Job.objects.filter(pk__in=[job.pk for job in jobs]).count() == 3


@pytest.mark.postgres
def test_the_claim_is_prepared_once_per_connection_outside_the_worker_too() -> None:
    from django.utils import timezone

    for i in range(2):
        add.enqueue(i, i)
    ops = get_ops()
    claimed = [ops.job_claim(queue="default", limit=1, worker_id="w-1", now=timezone.now()) for _ in range(2)]

    assert [len(jobs) for jobs in claimed] == [1, 1]
    assert _prepared_on_this_connection("FOR UPDATE SKIP LOCKED") == 1
    assert connection.connection.prepare_threshold is None


@pytest.mark.postgres
def test_behind_a_transaction_pooler_nothing_djobs_runs_is_prepared() -> None:
    from django.utils import timezone

    connection.close()  # a session of its own: nothing prepared by an earlier test
    with override_settings(DJOBS={"TRANSACTION_POOLING": True}):
        for i in range(3):
            add.enqueue(i, i)
        get_ops().job_claim(queue="default", limit=1, worker_id="w-1", now=timezone.now())

        assert _prepared_on_this_connection("djobs_job") == 0


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["DISCARD ALL", "DEALLOCATE ALL"])
def test_after_the_project_drops_prepared_statements_enqueue_prepares_afresh(command: str) -> None:
    add.enqueue(1, 1)
    with connection.cursor() as cursor:
        cursor.execute(command)  # through Django: psycopg does not see the insert go

    jobs = [add.enqueue(i, i) for i in range(2, 5)]

    assert Job.objects.filter(pk__in=[job.pk for job in jobs]).count() == 3
    assert _prepared_on_this_connection("INSERT INTO djobs_job") == 1


@pytest.mark.postgres
def test_a_claim_after_a_migration_changed_a_returned_column_fails_at_most_once_then_claims() -> None:
    from django.db import DatabaseError
    from django.utils import timezone

    for i in range(4):
        add.enqueue(i, i)
    ops = get_ops()

    def claim() -> int:
        return len(ops.job_claim(queue="default", limit=1, worker_id="w-1", now=timezone.now()))

    assert claim() == 1  # prepared with path as varchar(255)
    try:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE djobs_job ALTER COLUMN path TYPE varchar(256)")
        outcomes = []
        for _ in range(3):
            try:
                outcomes.append(claim())
            except DatabaseError as exc:
                assert "cached plan must not change result type" in str(exc)
                outcomes.append(-1)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE djobs_job ALTER COLUMN path TYPE varchar(255)")

    assert outcomes.count(-1) <= 1
    assert outcomes[-2:] == [1, 1]
