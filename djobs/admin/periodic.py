"""Periodic schedules in the admin: cron in words, next runs, enable/disable, enqueue now."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html_join

from .. import registry
from ..exceptions import DjobsError
from ..models import PeriodicSchedule
from ..periodic.forms import PeriodicScheduleForm

NEXT_RUNS = 5


def next_runs(schedule: PeriodicSchedule, count: int = NEXT_RUNS) -> list[Any]:
    """Return the next ``count`` tick times of ``schedule`` (empty when its cron is invalid)."""
    from ..periodic.cron import next_ticks, parse_cron, time_zone

    try:
        return next_ticks(parse_cron(schedule.cron), time_zone(schedule.timezone), timezone.now(), count)
    except ValueError:
        return []


def in_words(schedule: PeriodicSchedule) -> str:
    from ..periodic.describe import describe

    try:
        return describe(schedule.cron, schedule.timezone)
    except ValueError as exc:
        return f"invalid: {exc}"


def enqueue_schedule(schedule: PeriodicSchedule) -> Any:
    """Enqueue the schedule's job now, outside its ticks (its options apply)."""
    options = {
        k: v for k, v in (schedule.options or {}).items() if k in ("queue", "priority", "max_attempts")
    }
    job_function = registry.lookup(schedule.path)
    return job_function.using(
        meta={"periodic": schedule.name, "manual": True}, unique=False, **options
    ).enqueue(*(schedule.args or []), **(schedule.kwargs or {}))


@admin.action(description="Enable selected schedules", permissions=["change"])
def enable(modeladmin: Any, request: HttpRequest, queryset: QuerySet[PeriodicSchedule]) -> None:
    n = 0
    for schedule in queryset.filter(enabled=False):
        # As the schedule form does: the next run is the first tick from now, never a catch-up.
        runs = next_runs(schedule, 1)
        n += PeriodicSchedule.objects.filter(pk=schedule.pk, enabled=False).update(
            enabled=True, next_run_at=runs[0] if runs else None
        )
    modeladmin.message_user(request, f"Enabled {n} schedule{'s' * (n != 1)}.")


@admin.action(description="Disable selected schedules", permissions=["change"])
def disable(modeladmin: Any, request: HttpRequest, queryset: QuerySet[PeriodicSchedule]) -> None:
    n = queryset.filter(enabled=True).update(enabled=False, next_run_at=None)
    modeladmin.message_user(request, f"Disabled {n} schedule{'s' * (n != 1)}.")


@admin.action(description="Enqueue selected schedules' jobs now", permissions=["change"])
def enqueue_now(modeladmin: Any, request: HttpRequest, queryset: QuerySet[PeriodicSchedule]) -> None:
    done = 0
    for schedule in queryset:
        try:
            enqueue_schedule(schedule)
            done += 1
        except (DjobsError, LookupError, TypeError, ValueError) as exc:
            modeladmin.message_user(request, f"{schedule.name}: not enqueued: {exc}", messages.ERROR)
    modeladmin.message_user(request, f"Enqueued {done} job{'s' * (done != 1)}.")


class PeriodicScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "cron", "words", "path", "enabled", "next_run_at", "last_run_at", "from_settings"]
    list_filter = ["enabled", "from_settings"]
    search_fields = ["name", "path"]
    actions = [enable, disable, enqueue_now]
    form = PeriodicScheduleForm  # validates cron, time zone, job path and arguments
    readonly_fields = [
        "words",
        "upcoming",
        "last_run_at",
        "next_run_at",
        "from_settings",
        "created_at",
        "updated_at",
    ]

    class Media:
        css = {"all": ["djobs/admin.css"]}

    @admin.display(description="in words")
    def words(self, schedule: PeriodicSchedule) -> str:
        return in_words(schedule)

    @admin.display(description="next runs")
    def upcoming(self, schedule: PeriodicSchedule) -> str:
        runs = next_runs(schedule)
        if not runs:
            return "-"
        return format_html_join(
            "", "<div>{}</div>", ((timezone.localtime(t).isoformat(" ", "seconds"),) for t in runs)
        )
