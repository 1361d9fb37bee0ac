"""@job: what can be a job, and the registry that is the only way to run one."""

from __future__ import annotations

import pytest
from django.apps import apps

from djobs import JobDefinitionError, UnknownJobError, job, registry
from tests.testapp import jobs as testapp_jobs


def _module_level(x: int) -> int:
    return x


def test_registered_jobs_are_found_by_their_dotted_path() -> None:
    assert registry.lookup("tests.testapp.jobs.add") is testapp_jobs.add


def test_jobs_modules_of_installed_apps_are_autodiscovered() -> None:
    assert apps.is_installed("tests.testapp")
    assert registry.is_registered("testproject.demo.jobs.send_welcome")


def test_an_unknown_path_is_an_error_and_is_never_imported() -> None:
    with pytest.raises(UnknownJobError, match=r"No @job function is registered as 'os\.system'"):
        registry.lookup("os.system")


def test_a_nested_function_cannot_be_a_job() -> None:
    def inner() -> None:
        return None

    with pytest.raises(JobDefinitionError, match="needs a module-level function"):
        job(inner)


def test_a_lambda_cannot_be_a_job() -> None:
    with pytest.raises(JobDefinitionError, match="needs a module-level function"):
        job(lambda: None)


def test_bad_decorator_options_fail_at_definition() -> None:
    with pytest.raises(JobDefinitionError, match="priority=11 is not valid"):
        job(name="tests.bad", priority=11)(_module_level)
    with pytest.raises(JobDefinitionError, match=r"timeout=0"):
        job(name="tests.bad", timeout=0)(_module_level)
    assert not registry.is_registered("tests.bad")


def test_two_functions_cannot_share_a_path() -> None:
    with pytest.raises(JobDefinitionError, match="Two @job functions claim the path"):
        job(name="tests.testapp.jobs.add")(_module_level)


def test_name_registers_under_a_chosen_path() -> None:
    fn = job(name="tests.custom_name")(_module_level)
    try:
        assert fn.path == "tests.custom_name"
        assert registry.lookup("tests.custom_name") is fn
    finally:
        registry.unregister("tests.custom_name")
