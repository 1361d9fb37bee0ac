"""Shared fixtures; the same tests run on SQLite and PostgreSQL (DATABASE_URL picks)."""

from __future__ import annotations

import os

import pytest
from django.db import connection


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


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"
