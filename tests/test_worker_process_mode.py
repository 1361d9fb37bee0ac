"""``runjobs --processes``, ``--max-jobs`` / ``--max-memory`` and ``--metrics-port`` as real processes."""

from __future__ import annotations

import os
import signal
import socket
import urllib.request
from collections import Counter

import pytest

from djobs.metrics.worker import add_up
from djobs.models import Job, WorkerProcess
from djobs.worker.recycle import RecyclePolicy
from djobs.worker.supervisor import MAX_BACKOFF, child_argv, next_backoff
from tests.runjobs_process import RunJobs, wait_until
from tests.testapp import worker_jobs
from tests.testapp.models import Marker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    """Return the samples of a /metrics page (name with labels -> value), comments left out."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def fresh_and_serving(output: str) -> bool:
    """Say whether every recycled start of a lone worker was followed by a new start."""
    recycled = output.count("starts afresh (recycled)")
    return recycled >= 1 and output.count(" started: default=3") == recycled + 1


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- pure parts -----------------------------------------------------------------------


def test_children_run_the_command_line_without_the_supervisors_own_options() -> None:
    argv = ["manage.py", "runjobs", "--processes", "3", "--queue", "a=2", "--metrics-port=9108", "-v", "2"]
    assert child_argv(argv) == ["manage.py", "runjobs", "--queue", "a=2", "-v", "2"]


def test_a_child_dying_young_waits_longer_each_time_and_a_long_life_resets_the_backoff() -> None:
    assert next_backoff(0.0, lived=1.0) == 0.5
    assert next_backoff(0.5, lived=1.0) == 1.0
    assert next_backoff(20.0, lived=1.0) == MAX_BACKOFF
    assert next_backoff(20.0, lived=60.0) == 0.0


def test_the_recycle_policy_names_the_limit_reached() -> None:
    policy = RecyclePolicy(max_jobs=50, max_memory_mb=300)
    assert policy.reason(49, 120.0) is None
    assert policy.reason(50, 120.0) == "50 jobs finished (--max-jobs 50)"
    assert policy.reason(3, 301.0) == "resident memory 301 MB (--max-memory 300)"
    assert not RecyclePolicy().active


def test_group_figures_keep_the_counters_of_ended_children_and_the_gauges_of_live_ones() -> None:
    ended = {
        "finished": [["q", "completed", 5]],
        "run_times": {"q": [[1, 4], 2.0]},
        "claimed": {"q": 6},
        "running": {"q": 1},
        "concurrency": {"q": 2},
        "record_rounds": 3,
        "record_seconds": 0.5,
    }
    live = {**ended, "finished": [["q", "completed", 2], ["q", "retried", 1]], "running": {"q": 2}}
    total = add_up([ended, live], [live])
    assert total["finished"] == [["q", "completed", 7], ["q", "retried", 1]]
    assert total["run_times"] == {"q": [[2, 8], 4.0]}
    assert total["claimed"] == {"q": 12}
    assert total["running"] == {"q": 2}
    assert total["record_rounds"] == 6


# -- real processes --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_two_processes_register_two_workers_and_a_killed_child_is_replaced(processes: list[RunJobs]) -> None:
    group = RunJobs("--processes", "2", "--queue", "default=2")
    processes.append(group)
    wait_until(lambda: WorkerProcess.objects.count() == 2, what="two worker rows")
    pids = set(WorkerProcess.objects.values_list("pid", flat=True))
    assert group.process.pid not in pids  # the supervisor runs no jobs
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: len(set(WorkerProcess.objects.values_list("pid", flat=True)) - {victim}) == 2,
        what="a replacement child",
    )
    jobs = [worker_jobs.record_run.enqueue() for _ in range(20)]
    wait_until(
        lambda: Job.objects.filter(pk__in=[j.pk for j in jobs], state="completed").count() == 20,
        what="the jobs to finish",
    )
    group.signal(signal.SIGTERM)
    assert group.wait(40) == 0, group.output()
    assert "died with status SIGKILL" in group.output()
    # The live children unregistered on the way out; the killed one's row waits for the rescuer.
    assert set(WorkerProcess.objects.values_list("pid", flat=True)) == {victim}
    assert not any(alive(pid) for pid in pids - {victim})


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_max_jobs_recycles_children_and_runs_every_job_exactly_once(processes: list[RunJobs]) -> None:
    jobs = [worker_jobs.slow.enqueue(0.02) for _ in range(200)]
    group = RunJobs("--processes", "2", "--queue", "default=4", "--max-jobs", "50")
    processes.append(group)
    wait_until(
        lambda: Job.objects.filter(pk__in=[j.pk for j in jobs], state="completed").count() == 200,
        timeout=90,
        what="200 jobs to finish",
    )
    group.signal(signal.SIGTERM)
    assert group.wait(40) == 0, group.output()
    for marker in ("started", "finished"):
        runs = Counter(Marker.objects.filter(name=marker).values_list("job_id", flat=True))
        assert set(runs) == {j.pk for j in jobs}
        assert max(runs.values()) == 1, f"a job {marker} twice"
    assert group.output().count("exited to be recycled") >= 2, group.output()
    assert "recycles: " in group.output()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_lone_worker_with_max_jobs_starts_afresh_and_loses_nothing(processes: list[RunJobs]) -> None:
    jobs = [worker_jobs.slow.enqueue(0.02) for _ in range(60)]
    worker = RunJobs("--queue", "default=3", "--max-jobs", "20")
    processes.append(worker)
    wait_until(
        lambda: Job.objects.filter(pk__in=[j.pk for j in jobs], state="completed").count() == 60,
        timeout=60,
        what="60 jobs to finish",
    )
    # SIGTERM once the process that started afresh last serves again (with 60 jobs it may
    # recycle twice; a signal between exec and the new handlers would kill it).
    wait_until(lambda: fresh_and_serving(worker.output()), what="the fresh start")
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.output()
    assert "starts afresh (recycled)" in worker.output()
    assert worker.process.pid == int(worker.output().split("(pid ")[-1].split(")")[0])  # exec, same pid
    for marker in ("started", "finished"):
        runs = Counter(Marker.objects.filter(name=marker).values_list("job_id", flat=True))
        assert set(runs) == {j.pk for j in jobs}
        assert max(runs.values()) == 1, f"a job {marker} twice"


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_metrics_counters_rise_as_a_worker_finishes_jobs(processes: list[RunJobs]) -> None:
    port = free_port()
    worker = RunJobs("--queue", "default=2", "--metrics-port", str(port))
    processes.append(worker)
    wait_until(WorkerProcess.objects.exists, what="the worker to start")
    wait_until(lambda: _scrapes(port), what="the metrics port")
    before = scrape(port)
    assert before.get('djobs_worker_jobs_finished_total{outcome="completed",queue="default"}', 0) == 0
    for _ in range(5):
        worker_jobs.noop.enqueue()
    worker_jobs.always_fails.using(max_attempts=1).enqueue()
    finished = 'djobs_worker_jobs_finished_total{{outcome="{}",queue="default"}}'
    # Two job threads: the failing job may be recorded after the five completions.
    wait_until(
        lambda: (
            scrape(port).get(finished.format("completed")) == 5
            and scrape(port).get(finished.format("exhausted")) == 1
        ),
        what="five completions and one exhausted attempt counted",
    )
    after = scrape(port)
    assert after[finished.format("completed")] == 5
    assert after[finished.format("exhausted")] == 1
    assert after['djobs_worker_job_run_seconds_count{queue="default"}'] == 6
    assert after['djobs_worker_jobs_claimed_total{queue="default"}'] == 6
    assert after['djobs_worker_concurrency{queue="default"}'] == 2
    assert after["djobs_worker_record_rounds_total"] >= 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_process_group_serves_one_metrics_port_adding_up_its_children(processes: list[RunJobs]) -> None:
    port = free_port()
    group = RunJobs("--processes", "2", "--queue", "default=2", "--metrics-port", str(port))
    processes.append(group)
    wait_until(lambda: WorkerProcess.objects.count() == 2, what="two worker rows")
    for _ in range(30):
        worker_jobs.record_run.enqueue()
    wait_until(
        lambda: (
            _scrapes(port)
            and scrape(port).get('djobs_worker_jobs_finished_total{outcome="completed",queue="default"}')
            == 30
        ),
        what="thirty completions counted across the group",
    )
    # Each child writes its figures every second: one may have run all thirty before
    # the other's first figures reach the supervisor.
    concurrency = 'djobs_worker_concurrency{queue="default"}'
    wait_until(lambda: scrape(port).get(concurrency) == 4, timeout=10, what="both children's slots counted")
    assert scrape(port)[concurrency] == 4
    group.signal(signal.SIGTERM)
    assert group.wait(40) == 0, group.output()


def _scrapes(port: int) -> bool:
    try:
        scrape(port)
    except OSError:
        return False
    return True


@pytest.mark.parametrize("port", [0, 70000, "9108", True])
def test_a_metrics_port_setting_that_is_no_port_is_refused_naming_the_fix(port: object) -> None:
    from djobs.conf import validate

    problems = [p for p in validate({"METRICS_PORT": port}) if p.key == "METRICS_PORT"]
    assert [p.id for p in problems] == ["djobs.E022"]
    assert "use a TCP port number (9108, say) or None" in problems[0].message


def test_runjobs_refuses_processes_with_burst() -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--processes runs a long-lived group"):
        call_command("runjobs", "--processes", "2", "--burst")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_sigterm_during_a_recycle_stops_the_worker_instead_of_starting_it_afresh(
    processes: list[RunJobs],
) -> None:
    slow = worker_jobs.slow.enqueue(3.0)
    worker_jobs.noop.enqueue()
    worker = RunJobs("--queue", "default=2", "--max-jobs", "1")
    processes.append(worker)
    wait_until(lambda: "recycles: " in worker.output(), what="the recycle to begin")
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.output()
    assert "starts afresh" not in worker.output()
    assert Job.objects.get(pk=slow.pk).state == "completed"  # the running job finished first
