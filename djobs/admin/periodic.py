"""Periodic schedules in the admin: cron in words, next runs, enable/disable, enqueue now."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from .. import registry
from ..exceptions import DjobsError
from ..models import PeriodicSchedule
from ..periodic.forms import PeriodicScheduleForm
from .display import job_name

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


def zoned_time(value: Any, zone_name: str) -> str:
    """Return ``value`` in the schedule's zone (``2026-01-06 09:00 CET``), with UTC on hover."""
    if value is None:
        return "-"
    from ..periodic.cron import UnknownTimeZone, time_zone

    try:
        zone = time_zone(zone_name)
    except UnknownTimeZone:
        zone = timezone.get_current_timezone()
    local = timezone.localtime(value, zone)
    return format_html(
        '<span class="djobs-next-run" title="{}">{}</span>',
        f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        f"{local:%Y-%m-%d %H:%M} {local.tzname()}",
    )


class SettingsScheduleForm(PeriodicScheduleForm):
    """The form of a schedule declared in settings: only ``enabled`` is a field; the rest is text."""

    def clean(self) -> dict[str, Any]:
        # Settings own the job and its arguments (the system checks report them).
        return ModelForm.clean(self) or {}


SETTINGS_NOTE = (
    "Declared in settings, as DJOBS['PERIODIC'][{name!r}]: change it there (it is synced at each "
    "runjobs start). Here it can only be enabled or disabled."
)


class PeriodicScheduleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "cron_text",
        "words",
        "job",
        "enabled",
        "next_run",
        "last_run",
        "from_settings",
    ]
    list_filter = ["enabled", "from_settings"]
    search_fields = ["name", "path"]
    actions = [enable, disable, enqueue_now]
    form = PeriodicScheduleForm  # validates cron, time zone, job path and arguments
    change_list_template = "djobs/admin/periodic_change_list.html"
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

    def get_readonly_fields(self, request: HttpRequest, obj: PeriodicSchedule | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.from_settings:
            # Text, not disabled inputs that look editable.
            owned = ["name", "cron", "timezone", "path", "args", "kwargs", "options"]
            fields = [*owned, *(f for f in fields if f not in owned)]
        return fields

    def get_form(
        self, request: HttpRequest, obj: Any | None = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm[Any]]:
        if obj is not None and obj.from_settings:
            kwargs["form"] = SettingsScheduleForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: PeriodicSchedule | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not obj.from_settings:
            return fieldsets
        note = format_html('<p class="djobs-settings-note">{}</p>', SETTINGS_NOTE.format(name=obj.name))
        (title, options), *rest = fieldsets
        return [(title, {**options, "description": note}), *rest]

    @admin.display(description="cron")
    def cron_text(self, schedule: PeriodicSchedule) -> str:
        return format_html('<code class="djobs-cron">{}</code>', schedule.cron)

    @admin.display(description="job")
    def job(self, schedule: PeriodicSchedule) -> str:
        return job_name(schedule.path)

    @admin.display(description="next run", ordering="next_run_at")
    def next_run(self, schedule: PeriodicSchedule) -> str:
        return zoned_time(schedule.next_run_at, schedule.timezone)

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, schedule: PeriodicSchedule) -> str:
        return zoned_time(schedule.last_run_at, schedule.timezone)

    @admin.display(description="in words")
    def words(self, schedule: PeriodicSchedule) -> str:
        return in_words(schedule)

    @admin.display(description="next runs")
    def upcoming(self, schedule: PeriodicSchedule) -> str:
        runs = next_runs(schedule)
        if not runs:
            return "-"
        return format_html_join("", "<div>{}</div>", ((zoned_time(t, schedule.timezone),) for t in runs))
