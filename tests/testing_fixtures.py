"""A fixture running a test both inside TestCase's transaction and in autocommit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.testapp.testing_jobs import RAN


@pytest.fixture(
    params=[
        pytest.param("db", marks=pytest.mark.django_db, id="testcase"),
        pytest.param("transactional_db", marks=pytest.mark.django_db(transaction=True), id="transaction"),
    ]
)
def either_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test as in TestCase (one rolled-back transaction) and as in TransactionTestCase."""
    RAN.clear()
    yield str(request.param)
    RAN.clear()
