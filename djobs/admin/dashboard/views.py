"""The dashboard page, its self-refreshing fragment and its JSON twin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from . import queries
from .queue_actions import can_control_queues, queue_rows

REFRESH_SECONDS = 10


def refresh_seconds(request: HttpRequest) -> int:
    """Return the refresh interval: ``?refresh=N`` (2 to 300 seconds) or the default."""
    try:
        return min(max(int(request.GET.get("refresh", REFRESH_SECONDS)), 2), 300)
    except ValueError:
        return REFRESH_SECONDS


def can_view_dashboard(request: HttpRequest) -> bool:
    """Say whether the user may see job data: staff with view or change permission on jobs."""
    user = request.user
    return bool(
        user.is_active
        and user.is_staff
        and (user.has_perm("djobs.view_job") or user.has_perm("djobs.change_job"))
    )


def dashboard(site: AdminSite) -> Callable[[HttpRequest], HttpResponse]:
    """Return the dashboard view for ``site``."""

    def view(request: HttpRequest) -> HttpResponse:
        if not can_view_dashboard(request):
            raise PermissionDenied
        data = queries.snapshot()
        grid: queries.Counts = data["counts"]
        executing = {q: grid.cell(q, "executing").value for q in grid.queues}
        available = {q: grid.cell(q, "available").value for q in grid.queues}
        rows = queue_rows(executing, available)
        for row in rows:  # a big state's counts are estimates: the panel says so as the grid does
            row["executing_estimated"] = grid.cell(row["status"].name, "executing").estimated
        context: dict[str, Any] = {
            "data": data,
            "refresh_seconds": refresh_seconds(request),
            "queues": rows,
            "can_control_queues": can_control_queues(request),
        }
        if request.GET.get("partial"):
            return TemplateResponse(request, "djobs/dashboard_body.html", context)
        context.update(site.each_context(request))
        context["title"] = "Jobs dashboard"
        return TemplateResponse(request, "djobs/dashboard.html", context)

    return view


def dashboard_data(request: HttpRequest) -> JsonResponse:
    """Return the dashboard's figures as JSON (for monitoring and scripts)."""
    if not can_view_dashboard(request):
        raise PermissionDenied
    data = queries.snapshot()
    grid: queries.Counts = data["counts"]
    return JsonResponse(
        {
            "now": data["now"].isoformat(),
            "counts": {
                q: {
                    s: {"value": c.value, "estimated": c.estimated}
                    for s, c in zip(grid.states, cells, strict=True)
                }
                for q, cells in grid.rows()
            },
            "lag_seconds": data["lag"],
            "throughput": data["throughput"],
            "failures": [{**f, "at": f["at"].isoformat() if f["at"] else None} for f in data["failures"]],
            "workers": [{**w, "started_at": w["started_at"].isoformat()} for w in data["workers"]],
            "periodic": [
                {"name": p.name, "cron": p.cron, "path": p.path, "next_run_at": p.next_run_at.isoformat()}
                for p in data["periodic"]
                if p.next_run_at
            ],
        }
    )
