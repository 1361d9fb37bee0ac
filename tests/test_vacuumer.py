"""The vacuumer: a VACUUM of the jobs table once its dead rows call for one (PostgreSQL)."""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import connection

from djobs.conf import validate
from djobs.db import get_ops
from djobs.maintenance.services import default_services
from djobs.maintenance.vacuumer import Vacuumer, VacuumerConfig, vacuum_due
from djobs.models import Job
from tests.factories import JobFactory


def test_a_vacuum_is_due_past_the_dead_rows_plus_a_share_of_the_live_ones() -> None:
    config = VacuumerConfig(dead_rows=1000, live_fraction=0.05)
    assert not vacuum_due(999, 0, config)
    assert vacuum_due(1000, 0, config)
    # A big table waits for proportionally more: its VACUUM reads every index.
    assert not vacuum_due(5999, 100_000, config)
    assert vacuum_due(6000, 100_000, config)


def test_no_vacuum_is_ever_due_when_turned_off() -> None:
    assert not vacuum_due(10**9, 0, VacuumerConfig(dead_rows=None))


@pytest.mark.parametrize(("field", "value"), [("dead_rows", 0), ("live_fraction", -0.1), ("interval", 0.0)])
def test_a_bad_config_names_its_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"VacuumerConfig.{field}="):
        Vacuumer(VacuumerConfig(**{field: value}))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -5, "many", True, 1.5])
def test_the_setting_refuses_what_is_not_a_row_count_and_names_the_fix(value: object) -> None:
    problems = validate({"VACUUM_DEAD_ROWS": value})
    assert [(p.id, p.key) for p in problems] == [("djobs.E003", "VACUUM_DEAD_ROWS")]
    assert "None to leave the jobs table to autovacuum" in problems[0].message


def test_every_worker_runs_the_vacuumer_with_the_setting_s_threshold(settings) -> None:  # type: ignore[no-untyped-def]
    from djobs.conf import get_settings

    settings.DJOBS = {**settings.DJOBS, "VACUUM_DEAD_ROWS": 1234}
    vacuumers = [s for s in default_services(get_settings()) if isinstance(s, Vacuumer)]
    assert [v.config.dead_rows for v in vacuumers] == [1234]
    assert vacuumers[0].in_burst  # a --burst drain of a million jobs needs it most


@pytest.mark.django_db
def test_on_a_database_without_vacuum_a_round_does_nothing() -> None:
    if get_ops().supports_vacuum:
        pytest.skip("this database can VACUUM (the tests below cover it)")
    assert not Vacuumer(VacuumerConfig(dead_rows=1)).run_once()


def _dead_rows_reach(count: int, timeout: float = 10.0) -> tuple[int, int, bool]:
    """Wait until the statistics show ``count`` dead rows (they are flushed about once a second)."""
    ops = get_ops()
    deadline = time.monotonic() + timeout
    while True:
        rows = ops.job_table_dead_rows()
        if rows[0] >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def _vacuum_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_get_vacuum_count('djobs_job'::regclass)")
        return int(cursor.fetchone()[0])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_past_the_threshold_a_round_vacuums_the_table_and_the_dead_rows_go() -> None:
    JobFactory.create_batch(300, state="available")
    # Claimed then completed: two dead versions per job, as a worker leaves them.
    Job.objects.update(state="executing")
    Job.objects.update(state="completed")
    dead, _live, _running = _dead_rows_reach(600)
    assert dead >= 600
    before = _vacuum_count()
    vacuumer = Vacuumer(VacuumerConfig(dead_rows=500, live_fraction=0.0))
    assert vacuumer.run_once().counts == {"dead_rows": dead}
    vacuumer.join(30)
    assert vacuumer.vacuums == 1
    assert _vacuum_count() == before + 1
    assert get_ops().job_table_dead_rows()[0] < 500
    # Nothing left to do: the next round starts nothing.
    assert not vacuumer.run_once()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_below_the_threshold_a_round_starts_nothing() -> None:
    JobFactory.create_batch(50, state="available")
    Job.objects.update(state="completed")
    _dead_rows_reach(50)
    before = _vacuum_count()
    vacuumer = Vacuumer(VacuumerConfig(dead_rows=100_000))
    assert not vacuumer.run_once()
    assert not vacuumer.running
    assert _vacuum_count() == before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_role_that_does_not_own_the_table_is_told_once_and_never_vacuums(caplog) -> None:  # type: ignore[no-untyped-def]
    role = f"djobs_not_owner_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role}")
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {role}")
        assert get_ops().job_table_can_vacuum() is False
        vacuumer = Vacuumer(VacuumerConfig(dead_rows=1))
        with caplog.at_level("WARNING", logger="djobs"):
            assert not vacuumer.run_once()
            assert not vacuumer.run_once()
        warnings = [r.getMessage() for r in caplog.records if "cannot VACUUM" in r.getMessage()]
        assert len(warnings) == 1
        assert "VACUUM_DEAD_ROWS" in warnings[0]
        assert not vacuumer.running
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
            cursor.execute(f"DROP ROLE {role}")


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_owner_may_vacuum_and_vacuum_refuses_a_transaction() -> None:
    ops = get_ops()
    assert ops.job_table_can_vacuum() is True
    # pytest-django holds this test in a transaction: VACUUM cannot run there.
    with pytest.raises(RuntimeError, match="outside atomic"):
        ops.job_table_vacuum()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_dead_rows_an_open_transaction_keeps_are_not_vacuumed_again_every_round(caplog) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    params = dict(connection.get_connection_params())
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    # A transaction with a transaction id, open from before the rows die: no VACUUM
    # may remove them while it lasts.
    holder = psycopg.connect(**params)
    try:
        holder.execute("SELECT txid_current()")
        JobFactory.create_batch(300, state="available")
        Job.objects.update(state="completed")
        assert _dead_rows_reach(300)[0] >= 300
        vacuumer = Vacuumer(VacuumerConfig(dead_rows=200, live_fraction=0.0))
        with caplog.at_level("WARNING", logger="djobs"):
            assert vacuumer.run_once()
            vacuumer.join(30)
        assert vacuumer.vacuums == 1
        assert any("could not remove" in r.getMessage() for r in caplog.records)
        # What it left does not call for another VACUUM at the next round.
        assert not vacuumer.run_once()
        assert not vacuumer.running
    finally:
        holder.rollback()
        holder.close()
