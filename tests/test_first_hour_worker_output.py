"""runjobs speaks in a fresh project: banner, failure lines, shutdown line, burst summary, -v, JSON."""

from __future__ import annotations

import json
import re
import signal

import pytest
from django.db import connection

import djobs
from djobs.models import Job
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import worker_jobs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FRESH = {"DJANGO_SETTINGS_MODULE": "tests.fresh_project_settings"}
# The text format: "2026-01-05 09:10:11 WARNING message".
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$")


def burst(runjobs, *args: str, settings: dict[str, str] = FRESH) -> str:  # type: ignore[no-untyped-def]
    worker = runjobs("--burst", *args, **settings)
    assert worker.wait(60) == 0, worker.output()
    return str(worker.output())


def test_a_fresh_project_gets_the_banner_failure_lines_shutdown_line_and_burst_summary(runjobs) -> None:  # type: ignore[no-untyped-def]
    worker_jobs.noop.enqueue_many([(), ()])
    worker_jobs.always_fails.using(max_attempts=1).enqueue("disk full")
    output = burst(runjobs, "--queue", "default=2")
    lines = output.splitlines()
    assert all(LINE.match(line) for line in lines), output
    banner = lines[0]
    assert f"djobs {djobs.__version__} worker " in banner
    assert "serving default=2 on database 'default'" in banner
    assert f"({connection.vendor})" in banner
    assert re.search(r"\(pid \d+\)", banner), banner
    assert "in burst mode" in banner
    [failure] = [line for line in lines if "always_fails" in line]
    assert failure.split(" ")[2] == "WARNING"
    assert "attempt 1: exhausted" in failure and "disk full" in failure, failure
    assert any(re.search(r"stopped: 3 claimed, 3 recorded, 0 released$", line) for line in lines), output
    assert re.search(r"INFO djobs burst finished in [0-9.]+s: 2 completed, 1 exhausted$", lines[-1]), output


def test_verbosity_0_keeps_only_warnings_and_failures(runjobs) -> None:  # type: ignore[no-untyped-def]
    worker_jobs.noop.enqueue()
    worker_jobs.always_fails.using(max_attempts=1).enqueue("no route")
    output = burst(runjobs, "--queue", "default=1", "-v", "0")
    levels = {LINE.match(line).group(1) for line in output.splitlines()}  # type: ignore[union-attr]
    assert levels == {"WARNING"}, output
    assert "no route" in output
    assert "burst finished" not in output


def test_verbosity_3_adds_each_records_fields(runjobs) -> None:  # type: ignore[no-untyped-def]
    job = worker_jobs.always_fails.using(max_attempts=1).enqueue("fields")
    output = burst(runjobs, "--queue", "default=1", "-v", "3")
    [failure] = [line for line in output.splitlines() if "always_fails" in line]
    assert f"job_id={job.id}" in failure and "queue=default" in failure, failure


def test_log_format_json_gives_one_object_per_line_with_fields(runjobs) -> None:  # type: ignore[no-untyped-def]
    job = worker_jobs.always_fails.using(max_attempts=1).enqueue("json please")
    output = burst(runjobs, "--queue", "default=1", "--log-format", "json")
    entries = [json.loads(line) for line in output.splitlines()]
    banner = entries[0]
    assert banner["level"] == "INFO" and banner["logger"] == "djobs"
    assert (banner["djobs_version"], banner["queues"], banner["vendor"]) == (
        djobs.__version__,
        {"default": 1},
        connection.vendor,
    )
    [failure] = [e for e in entries if e.get("job_id") == job.id]
    assert (failure["outcome"], failure["attempt"], failure["level"]) == ("exhausted", 1, "WARNING")
    assert "json please" in failure["error"]
    assert entries[-1]["outcomes"] == {"exhausted": 1}


def test_a_project_that_configures_the_djobs_logger_gets_no_handler_from_djobs(runjobs) -> None:  # type: ignore[no-untyped-def]
    worker_jobs.noop.enqueue()
    # tests.worker_settings' LOGGING gives djobs a plain StreamHandler ("%(message)s").
    output = burst(runjobs, "--queue", "default=1", "--log-format", "json", settings={})
    assert not any(LINE.match(line) for line in output.splitlines()), output
    assert not any(line.startswith("{") for line in output.splitlines()), output
    assert output.count("burst finished") == 1  # once: no second handler of djobs' own
    assert output.splitlines()[-1].startswith("djobs burst finished in ")


def test_a_served_queue_no_job_uses_is_warned_about_with_a_did_you_mean(runjobs) -> None:  # type: ignore[no-untyped-def]
    output = burst(runjobs, "--queue", "default=1", "--queue", "emial=5")
    [warning] = [line for line in output.splitlines() if "'emial'" in line and "WARNING" in line]
    assert "no registered job, schedule or task uses it; Did you mean 'emails'?" in warning
    assert not any("'default' is served" in line for line in output.splitlines()), output


def test_sigterm_shutdown_line_counts_the_released_job(processes: list[RunJobs]) -> None:
    job = worker_jobs.slow.enqueue(30)
    worker = RunJobs("--queue", "default=1", DJOBS_SHUTDOWN_GRACE="0.2", **FRESH)
    processes.append(worker)
    wait_until(lambda: Job.objects.filter(pk=job.pk, state="executing").exists(), what="the job to run")
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.output()
    output = worker.output()
    assert "INFO djobs got SIGTERM: finishing running jobs" in output
    assert re.search(r"stopped: 1 claimed, 0 recorded, 1 released", output), output
    assert "burst finished" not in output
