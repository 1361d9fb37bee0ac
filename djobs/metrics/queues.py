"""Queue-level gauges read from the database, served by a Django view the project mounts.

Every worker process could export these, but each would then scan the jobs
table on every scrape; one view behind the project's web server reads them
once per scrape, with the dashboard's queries (exact counts up to 10,000 rows
per cell, the planner's estimate beyond), so a scrape stays cheap on ten
million jobs.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views import View

from ..states import JobState
from . import prometheus

#: The permission a logged-in user needs when the view has no token.
PERMISSION = "djobs.view_job"


class QueueCollector:
    """A prometheus_client collector yielding the queue gauges at each scrape."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from ..admin.dashboard.queries import counts, queue_lag, workers

        now = timezone.now()
        grid = counts()
        jobs = GaugeMetricFamily(
            "djobs_jobs",
            "Jobs per queue and state (the planner's estimate past 10,000 rows in a cell).",
            labels=["queue", "state"],
        )
        for queue, cells in grid.rows():
            for state, cell in zip(grid.states, cells, strict=True):
                jobs.add_metric([queue, state], cell.value)
        yield jobs
        available = {q: grid.cell(q, JobState.AVAILABLE).value for q in grid.queues}
        lag = GaugeMetricFamily(
            "djobs_queue_lag_seconds",
            "Age of the queue's oldest available job (0 when none waits).",
            labels=["queue"],
        )
        for queue, seconds in queue_lag(available, now).items():
            lag.add_metric([queue], seconds or 0.0)
        yield lag
        alive = GaugeMetricFamily(
            "djobs_workers", "Registered worker processes by heartbeat status.", labels=["status"]
        )
        rows = workers(now, limit=10_000)
        alive.add_metric(["alive"], sum(1 for w in rows if w["alive"]))
        alive.add_metric(["stale"], sum(1 for w in rows if not w["alive"]))
        yield alive


class QueueMetricsView(View):
    """``GET`` the queue gauges in Prometheus' text format.

    Guarded by a bearer token when ``token`` is given
    (``QueueMetricsView.as_view(token=env("DJOBS_METRICS_TOKEN"))``), which is
    what a Prometheus scrape config sends (``authorization: {credentials: ...}``);
    otherwise by the ``djobs.view_job`` permission of a logged-in user.
    """

    token: str | None = None
    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest) -> HttpResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        client = prometheus()
        registry = client.CollectorRegistry(auto_describe=False)
        registry.register(QueueCollector())
        return HttpResponse(client.generate_latest(registry), content_type=client.CONTENT_TYPE_LATEST)

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        if self.token:
            sent = request.headers.get("Authorization", "")
            scheme, _, credentials = sent.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip(), self.token):
                return None
            response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="djobs metrics"'
            return response
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return HttpResponse(
                "Log in, or mount the view with a token.\n", status=401, content_type="text/plain"
            )
        if not user.has_perm(PERMISSION):
            return HttpResponse(
                f"The {PERMISSION} permission is required.\n", status=403, content_type="text/plain"
            )
        return None


__all__ = ["PERMISSION", "QueueCollector", "QueueMetricsView"]
