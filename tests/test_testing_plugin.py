"""The pytest plugin: fixtures and marker, loaded through the pytest11 entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from djobs.conf import get_settings
from djobs.testing import assert_enqueued
from tests.testapp.jobs import add
from tests.testapp.testing_jobs import RAN, note


def test_the_plugin_is_registered_through_its_entry_point(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("djobs")
    assert plugin is not None and plugin.__name__ == "djobs.testing.pytest_plugin"


@pytest.mark.django_db
def test_djobs_fixture_gives_the_helpers(djobs: ModuleType) -> None:
    add.enqueue(1, 2)
    djobs.assert_enqueued(job=add, args=[1, 2])
    assert djobs.drain_queue() == {"completed": 1}
    assert djobs.perform_job(add, [2, 2]).value == 4


@pytest.mark.django_db
def test_djobs_inline_fixture_runs_jobs_at_enqueue(djobs_inline: ModuleType) -> None:
    assert get_settings().TESTING == "inline"
    assert add.enqueue(1, 2).state == "completed"


@pytest.mark.django_db(transaction=True)
def test_djobs_manual_fixture_inserts_only(djobs_manual: ModuleType) -> None:
    assert get_settings().TESTING == "manual"
    add.enqueue(1, 2)
    djobs_manual.assert_enqueued(job=add)


@pytest.mark.django_db
@pytest.mark.djobs_testing("inline")
def test_the_djobs_testing_marker_sets_the_mode_for_one_test() -> None:
    RAN.clear()
    note.enqueue("marked")
    assert RAN == ["marked"]
    assert_enqueued(job=note, state="completed")


def test_the_mode_is_back_to_the_configured_one_after_those_tests() -> None:
    assert get_settings().TESTING is None


@pytest.mark.slow
def test_the_plugin_leaves_projects_without_django_settings_alone(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_plain.py").write_text(
        textwrap.dedent(
            """
            import sys

            def test_plain(request):
                assert request.config.pluginmanager.get_plugin("djobs") is not None
                # The plugin imports no helper (nor settings) until a fixture is used.
                assert "djobs.testing.assertions" not in sys.modules
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
