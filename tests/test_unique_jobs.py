"""Unique jobs: a duplicate returns the job that holds the key, enforced by the database."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from djobs import JobDefinitionError, job
from djobs.models import Job
from djobs.states import STATE_BITS, states_mask
from tests.testapp.jobs import add, sync_user, unique_forever

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def mid_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold the clock in the middle of a minute: sync_user's 60 s buckets must not roll over."""
    fixed = timezone.now().replace(second=30, microsecond=0)
    monkeypatch.setattr("djobs.enqueue.timezone.now", lambda: fixed)


@pytest.mark.django_db
def test_a_duplicate_returns_the_existing_job_flagged_and_inserts_nothing() -> None:
    first = sync_user.enqueue(7)
    second = sync_user.enqueue(7)
    assert second.pk == first.pk
    assert (first.duplicate, second.duplicate) == (False, True)
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_keys_choose_which_arguments_count_whether_positional_or_keyword() -> None:
    first = sync_user.enqueue(7, force=False)
    assert sync_user.enqueue(user_id=7, force=True).pk == first.pk
    assert sync_user.enqueue(8).pk != first.pk
    assert Job.objects.count() == 2


@pytest.mark.django_db
def test_without_keys_every_argument_counts() -> None:
    unique_forever.enqueue("a")
    assert unique_forever.enqueue("a").duplicate
    assert not unique_forever.enqueue("b").duplicate


@pytest.mark.django_db
def test_the_queue_is_part_of_the_key() -> None:
    first = unique_forever.enqueue("a")
    other = unique_forever.using(queue="other").enqueue("a")
    assert other.pk != first.pk and not other.duplicate


@pytest.mark.django_db
def test_a_new_period_admits_a_new_job(monkeypatch: pytest.MonkeyPatch) -> None:
    start = timezone.now().replace(second=0, microsecond=0)
    monkeypatch.setattr("djobs.enqueue.timezone.now", lambda: start)
    first = sync_user.enqueue(1)
    monkeypatch.setattr("djobs.enqueue.timezone.now", lambda: start + timedelta(seconds=59))
    assert sync_user.enqueue(1).pk == first.pk
    monkeypatch.setattr("djobs.enqueue.timezone.now", lambda: start + timedelta(seconds=61))
    assert sync_user.enqueue(1).pk != first.pk


@pytest.mark.django_db
def test_a_job_whose_key_was_cleared_no_longer_blocks_duplicates() -> None:
    first = unique_forever.enqueue("a")
    # What the dispatcher does when a job leaves the states its key covers.
    Job.objects.filter(pk=first.pk).update(state=Job.State.DISCARDED, unique_key=None)
    again = unique_forever.enqueue("a")
    assert again.pk != first.pk and not again.duplicate


@pytest.mark.django_db
def test_unique_can_be_given_per_enqueue_with_using() -> None:
    first = add.using(unique={"keys": ["a"]}).enqueue(1, 2)
    assert add.using(unique={"keys": ["a"]}).enqueue(1, 3).pk == first.pk
    assert add.enqueue(1, 2).pk != first.pk  # without unique, always a new job


@pytest.mark.django_db
def test_the_row_records_which_states_its_key_covers() -> None:
    row = Job.objects.get(pk=add.using(unique={"states": ["available", "scheduled"]}).enqueue(1, 2).pk)
    assert row.unique_states == STATE_BITS["available"] | STATE_BITS["scheduled"]
    assert Job.objects.get(pk=add.enqueue(1, 2).pk).unique_states == 0


@pytest.mark.django_db
def test_bulk_insert_returns_existing_jobs_for_held_keys_and_dedupes_within_the_call() -> None:
    held = sync_user.enqueue(1)
    jobs = sync_user.enqueue_many([(1,), (2,), (2,), (3,)])
    assert [j.duplicate for j in jobs] == [True, False, True, False]
    assert jobs[0].pk == held.pk
    assert jobs[1].pk == jobs[2].pk
    assert Job.objects.count() == 3


@pytest.mark.django_db
def test_bulk_mixes_unique_and_plain_jobs_in_order() -> None:
    import djobs

    jobs = djobs.enqueue_many([add.new(1, 1), sync_user.new(5), add.new(2, 2), sync_user.new(5)])
    assert [j.path.rsplit(".", 1)[1] for j in jobs] == ["add", "sync_user", "add", "sync_user"]
    assert [j.duplicate for j in jobs] == [False, False, False, True]
    assert Job.objects.count() == 3


@pytest.mark.parametrize(
    ("unique", "message"),
    [
        ({"period": -5}, "period=-5 must be seconds above 0"),
        ({"keys": "user_id"}, "keys='user_id' must be a list of argument names"),
        ({"states": ["done"]}, "states=['done'] must be a non-empty list"),
        ({"perod": 60}, "unknown option(s) ['perod']"),
        ("yes", "unique='yes' is not valid"),
    ],
)
def test_bad_unique_options_are_refused_when_the_job_is_defined(unique, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(JobDefinitionError) as excinfo:
        job(name="tests.bad_unique", unique=unique)(_plain)
    assert message in str(excinfo.value)


def _plain(x: int) -> None:
    return None


# Concurrent writers race for the unique index: PostgreSQL, MariaDB and MySQL (SQLite
# has one writer at a time).
concurrent_writers = pytest.mark.skipif(
    "sqlite" in settings.DATABASES["default"]["ENGINE"],
    reason="needs concurrent writers (PostgreSQL, MariaDB, MySQL)",
)


def _concurrent(n: int, target) -> list[object]:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(n)
    results: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(target())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    return results


@concurrent_writers
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_enqueues_from_many_threads_insert_one_job() -> None:
    # unique_forever has no period: a minute rolling over mid-test cannot split the keys.
    results = _concurrent(12, lambda: unique_forever.enqueue("42"))
    assert Job.objects.count() == 1
    assert len({j.pk for j in results}) == 1  # type: ignore[attr-defined]
    assert sum(not j.duplicate for j in results) == 1  # type: ignore[attr-defined]


@concurrent_writers
@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_bulk_enqueues_insert_each_key_once() -> None:
    _concurrent(6, lambda: unique_forever.enqueue_many([(str(i),) for i in range(200)]))
    assert Job.objects.count() == 200


@concurrent_writers
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_enqueues_from_many_processes_insert_one_job() -> None:
    script = (
        "import django; django.setup();"
        "from tests.testapp.jobs import unique_forever;"
        "[unique_forever.enqueue(str(i)) for i in range(100)]"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        # The subprocess must write to this test's database.
        "DATABASE_URL": _url_for(connection.settings_dict),
    }
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, cwd=ROOT) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    assert Job.objects.count() == 100


def _url_for(settings_dict: dict[str, object]) -> str:
    host = settings_dict["HOST"] or "127.0.0.1"
    if connection.vendor == "mysql":
        user, port = settings_dict["USER"] or "root", settings_dict["PORT"] or 3306
        return f"mysql://{user}@{host}:{port}/{settings_dict['NAME']}"
    port = settings_dict["PORT"] or 5432
    user = settings_dict["USER"] or "postgres"
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


def test_states_mask_has_one_bit_per_state() -> None:
    assert states_mask(["available"]) == STATE_BITS["available"]
    assert len(set(STATE_BITS.values())) == len(STATE_BITS)
