"""The dashboard's queue panel: each queue's flow state, and its pause and resume buttons (POST, CSRF)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse

from ...flow.queues import pause_queue, queue_statuses, resume_queue

ACTIONS = {"pause": pause_queue, "resume": resume_queue}


def can_control_queues(request: HttpRequest) -> bool:
    """Say whether the user may pause and resume queues: staff with change permission on jobs."""
    user = request.user
    return bool(user.is_active and user.is_staff and user.has_perm("djobs.change_job"))


def queue_rows(executing: Mapping[str, int], available: Mapping[str, int]) -> list[dict[str, Any]]:
    """Return each queue's panel row: its status, and whether its waiting jobs are held by a limit."""
    rows = []
    for status in queue_statuses():
        running = executing.get(status.name, 0)
        waiting = available.get(status.name, 0)
        limited = bool(
            waiting
            and not status.paused
            and status.global_limit is not None
            and not status.partition_by
            and running >= status.global_limit
        )
        rows.append({"status": status, "executing": running, "available": waiting, "limited": limited})
    return rows


def queue_action(site: AdminSite) -> Any:
    """Return the view pausing or resuming the queue named in POST, then back to the dashboard."""

    def view(request: HttpRequest, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not can_control_queues(request) or action not in ACTIONS:
            raise PermissionDenied
        name = request.POST.get("queue", "")
        try:
            ACTIONS[action](name)
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            done = "paused: no new starts; running jobs finish" if action == "pause" else "resumed"
            messages.success(request, f"Queue {name!r} {done}.")
        return HttpResponseRedirect(reverse(f"{site.name}:djobs_dashboard"))

    return view


__all__ = ["can_control_queues", "queue_action", "queue_rows"]
