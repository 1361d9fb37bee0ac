"""Worker processes in the admin: read-only, with heartbeat age and whether each is presumed alive."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from ..conf import get_settings
from ..models import WorkerProcess
from .display import format_duration


class WorkerProcessAdmin(admin.ModelAdmin):
    list_display = ["id", "hostname", "pid", "queue_list", "started_at", "heartbeat_age", "alive"]
    readonly_fields = ["id", "hostname", "pid", "queues", "started_at", "heartbeat_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WorkerProcess | None = None) -> bool:
        return False

    @admin.display(description="queues")
    def queue_list(self, worker: WorkerProcess) -> str:
        queues = worker.queues or {}
        if isinstance(queues, dict):
            return ", ".join(f"{q}={n}" for q, n in sorted(queues.items()))
        return ", ".join(map(str, queues))

    @admin.display(description="heartbeat", ordering="heartbeat_at")
    def heartbeat_age(self, worker: WorkerProcess) -> str:
        return format_duration((timezone.now() - worker.heartbeat_at).total_seconds()) + " ago"

    @admin.display(description="alive", boolean=True)
    def alive(self, worker: WorkerProcess) -> bool:
        return (timezone.now() - worker.heartbeat_at).total_seconds() < get_settings().RESCUE_AFTER
