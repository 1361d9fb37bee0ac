"""pytest fixtures for djobs, registered through the ``pytest11`` entry point.

Fixtures: ``djobs`` (the helpers: ``djobs.assert_enqueued(...)``,
``djobs.drain_queue(...)``...), ``djobs_manual`` and ``djobs_inline`` (switch
``DJOBS["TESTING"]`` for one test), and the ``@pytest.mark.djobs_testing("inline")``
marker. Django is imported only inside the fixtures, so projects that do not
use Django (or djobs) are unaffected by this plugin being installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "djobs_testing(mode): run the test with DJOBS['TESTING'] set to 'manual' or 'inline'",
    )


def _helpers() -> ModuleType:
    import djobs.testing

    return djobs.testing


@pytest.fixture
def djobs() -> ModuleType:
    """Return :mod:`djobs.testing`: ``djobs.assert_enqueued(...)``, ``djobs.drain_queue(...)``...

    Database access still comes from pytest-django (``db``, ``transactional_db``
    or ``@pytest.mark.django_db``).
    """
    return _helpers()


@pytest.fixture
def djobs_manual() -> Iterator[ModuleType]:
    """Run the test with ``DJOBS["TESTING"] = "manual"``: jobs are inserted, nothing runs."""
    helpers = _helpers()
    with helpers.testing_mode("manual"):
        yield helpers


@pytest.fixture
def djobs_inline() -> Iterator[ModuleType]:
    """Run the test with ``DJOBS["TESTING"] = "inline"``: each job runs at enqueue."""
    helpers = _helpers()
    with helpers.testing_mode("inline"):
        yield helpers


@pytest.fixture(autouse=True)
def _djobs_testing_marker(request: pytest.FixtureRequest) -> Iterator[None]:
    marker: Any = request.node.get_closest_marker("djobs_testing")
    if marker is None:
        yield
        return
    if len(marker.args) != 1:
        raise pytest.UsageError(
            "@pytest.mark.djobs_testing takes one mode: @pytest.mark.djobs_testing('inline')."
        )
    with _helpers().testing_mode(marker.args[0]):
        yield
