"""Shared fixtures; the same tests run on SQLite and PostgreSQL (DATABASE_URL picks)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from django.db import connection

from tests.runjobs_process import RunJobs


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if os.environ.get("DJOBS_REQUIRE_POSTGRES") and "postgresql" not in engine:
        raise pytest.UsageError(
            f"DJOBS_REQUIRE_POSTGRES is set but DATABASE_URL gives {engine}; "
            "point DATABASE_URL at PostgreSQL."
        )
    if "postgresql" in engine:
        _truncate_only_written_tables()


def _truncate_only_written_tables() -> None:
    """PostgreSQL: the flush after a transactional test truncates only the tables written since the last.

    TRUNCATE gives each table (and index) a new file, fsynced at commit: the
    ~30 tables took 0.1-0.5 s after each of some 400 tests. A table whose heap
    has no page was never written since its last TRUNCATE, so leaving it out
    leaves every table as a full flush would. CASCADE empties the tables
    referencing a truncated one, as listing them all did.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    flush = DatabaseOperations.sql_flush

    def sql_flush(
        self: DatabaseOperations,
        style: Any,
        tables: Sequence[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if tables and not reset_sequences:  # a sequence may have moved in an unwritten table
            with self.connection.cursor() as cursor:
                cursor.execute(
                    "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'"
                    " AND pg_table_is_visible(oid) AND pg_relation_size(oid) > 0",
                    [list(tables)],
                )
                written = {name for (name,) in cursor.fetchall()}
            tables, allow_cascade = [t for t in tables if t in written], True
        return flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    on_postgres = "postgresql" in settings.DATABASES["default"]["ENGINE"]
    skip = pytest.mark.skip(reason="needs PostgreSQL (run with DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)
        if item.path.name.startswith("test_fault_"):
            item.add_marker(pytest.mark.fault)


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def processes() -> Iterator[list[RunJobs]]:
    """A list to append started runjobs subprocesses to; they are killed after the test."""
    started: list[RunJobs] = []
    yield started
    for process in started:
        process.stop()


@pytest.fixture
def runjobs() -> Iterator[Callable[..., RunJobs]]:
    """Start runjobs subprocesses: ``runjobs(*args, prefix=(), **env)``; killed after the test."""
    started: list[RunJobs] = []

    def start(*args: str, prefix: Sequence[str] = (), **env: str) -> RunJobs:
        process = RunJobs(*args, prefix=prefix, **env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
