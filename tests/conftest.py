"""Shared fixtures; the same tests run on SQLite and PostgreSQL (DATABASE_URL picks)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

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
