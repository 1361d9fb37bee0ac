"""``runjobs --metrics-port``: the worker process's own figures in Prometheus' text format.

The figures are read from the runner when Prometheus scrapes (a collector),
so serving them adds nothing to the dispatcher's hot path. With
``--processes`` the supervisor serves one port for the group: each child
writes its figures as JSON to a directory the supervisor gave it, about once
a second and when it stops, and the supervisor adds them up at scrape time;
a child that ended keeps counting in the totals (counters never go down),
its gauges drop out.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import prometheus
from .stats import RUN_TIME_BUCKETS

if TYPE_CHECKING:
    from ..worker.runner import Runner

logger = logging.getLogger("djobs")

#: Environment variable naming the directory children of a supervisor write their figures to.
DIR_ENV = "DJOBS_METRICS_DIR"
WRITE_EVERY = 1.0


def figures(runner: Runner) -> dict[str, Any]:
    """Return the runner's figures as plain JSON-able data."""
    snap = runner.recorder.stats.snapshot()
    producers = runner.producers
    return {
        "finished": [[q, o, n] for (q, o), n in sorted(snap.finished.items())],
        "run_times": {q: [t.buckets, t.total] for q, t in snap.run_times.items()},
        "record_rounds": snap.record_rounds,
        "record_seconds": snap.record_seconds,
        "claimed": {name: p.claimed for name, p in producers.items()},
        "running": {name: len(p.running) for name, p in producers.items()},
        "concurrency": {name: p.concurrency for name, p in producers.items()},
    }


def add_up(parts: list[dict[str, Any]], live: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the counters of every part and the gauges of the ``live`` ones (pure)."""
    finished: dict[tuple[str, str], int] = {}
    run_times: dict[str, list[Any]] = {}
    claimed: dict[str, int] = {}
    total: dict[str, Any] = {"record_rounds": 0, "record_seconds": 0.0}
    for part in parts:
        for queue, outcome, n in part["finished"]:
            finished[queue, outcome] = finished.get((queue, outcome), 0) + n
        for queue, (buckets, seconds) in part["run_times"].items():
            mine = run_times.setdefault(queue, [[0] * len(buckets), 0.0])
            mine[0] = [a + b for a, b in zip(mine[0], buckets, strict=True)]
            mine[1] += seconds
        for queue, n in part["claimed"].items():
            claimed[queue] = claimed.get(queue, 0) + n
        total["record_rounds"] += part["record_rounds"]
        total["record_seconds"] += part["record_seconds"]
    gauges: dict[str, dict[str, int]] = {"running": {}, "concurrency": {}}
    for part in live:
        for name in gauges:
            for queue, n in part[name].items():
                gauges[name][queue] = gauges[name].get(queue, 0) + n
    return {
        **total,
        "finished": [[q, o, n] for (q, o), n in sorted(finished.items())],
        "run_times": run_times,
        "claimed": claimed,
        **gauges,
    }


def families(data: dict[str, Any]) -> Iterator[Any]:
    """Yield prometheus_client metric families for ``data`` (as :func:`figures` returns it)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    finished = CounterMetricFamily(
        "djobs_worker_jobs_finished",
        "Attempts whose outcome this worker recorded, by queue and outcome.",
        labels=["queue", "outcome"],
    )
    for queue, outcome, n in data["finished"]:
        finished.add_metric([queue, outcome], n)
    yield finished
    run_time = HistogramMetricFamily(
        "djobs_worker_job_run_seconds", "Run time of recorded attempts, by queue.", labels=["queue"]
    )
    for queue, (buckets, seconds) in data["run_times"].items():
        cumulative, points = 0, []
        for bound, n in zip([*RUN_TIME_BUCKETS, float("inf")], buckets, strict=True):
            cumulative += n
            points.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        run_time.add_metric([queue], points, seconds)
    yield run_time
    claimed = CounterMetricFamily("djobs_worker_jobs_claimed", "Jobs claimed, by queue.", labels=["queue"])
    for queue, n in data["claimed"].items():
        claimed.add_metric([queue], n)
    yield claimed
    running = GaugeMetricFamily("djobs_worker_jobs_running", "Jobs running now, by queue.", labels=["queue"])
    for queue, n in data["running"].items():
        running.add_metric([queue], n)
    yield running
    slots = GaugeMetricFamily(
        "djobs_worker_concurrency", "Jobs a queue may run at once in this worker.", labels=["queue"]
    )
    for queue, n in data["concurrency"].items():
        slots.add_metric([queue], n)
    yield slots
    rounds = CounterMetricFamily(
        "djobs_worker_record_rounds", "Round trips writing outcomes (one per batch of outcomes)."
    )
    rounds.add_metric([], data["record_rounds"])
    yield rounds
    seconds = CounterMetricFamily("djobs_worker_record_seconds", "Seconds spent writing outcomes.")
    seconds.add_metric([], data["record_seconds"])
    yield seconds


class RunnerCollector:
    """Collects one runner's figures at scrape time."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Any]:
        yield from families(figures(self.runner))


class GroupCollector:
    """Collects the figures the children of a supervisor wrote to ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.live: set[int] = set()

    def collect(self) -> Iterator[Any]:
        parts, live = [], []
        for path in sorted(self.directory.glob("*.json")):
            try:
                part = json.loads(path.read_text())
            except (OSError, ValueError):  # being replaced: the next scrape reads it
                continue
            parts.append(part)
            if int(path.stem) in self.live:
                live.append(part)
        yield from families(add_up(parts, live))


class FiguresWriter:
    """In a supervised child: writes the runner's figures for the supervisor, every second."""

    def __init__(self, runner: Runner, directory: Path) -> None:
        self.runner = runner
        self.path = directory / f"{os.getpid()}.json"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="djobs-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.write()

    def write(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(figures(self.runner)))
        temporary.replace(self.path)  # atomic: a scrape never reads half a file

    def _run(self) -> None:
        while not self._stop.wait(WRITE_EVERY):
            try:
                self.write()
            except OSError as exc:
                logger.warning("djobs could not write its metrics for the supervisor: %s", exc)


@contextmanager
def exported(runner: Runner, port: int | None) -> Iterator[None]:
    """Export ``runner``'s figures while the block runs: to the supervisor, on ``port``, or not at all."""
    directory = os.environ.get(DIR_ENV)
    if directory:
        writer = FiguresWriter(runner, Path(directory))
        writer.start()
        try:
            yield
        finally:
            writer.stop()
    elif port:
        server = serve(RunnerCollector(runner), port)
        try:
            yield
        finally:
            server.shutdown()
    else:
        yield


def serve(collector: Any, port: int, addr: str = "0.0.0.0") -> Any:
    """Serve ``collector`` on ``addr:port``/metrics in a thread; return the server."""
    client = prometheus()
    registry = client.CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, _thread = client.start_http_server(port, addr=addr, registry=registry)
    logger.info("djobs metrics on http://%s:%d/metrics", addr, port, extra={"metrics_port": port})
    return server


__all__ = [
    "DIR_ENV",
    "FiguresWriter",
    "GroupCollector",
    "RunnerCollector",
    "add_up",
    "exported",
    "families",
    "figures",
    "serve",
]
