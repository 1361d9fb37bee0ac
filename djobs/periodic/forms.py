"""The admin form of a schedule: cron, time zone, job and arguments are checked before saving.

Plug it into a ModelAdmin with ``form = PeriodicScheduleForm``. A schedule
declared in ``DJOBS["PERIODIC"]`` (``from_settings``) can only be enabled or
disabled here; its other fields come from settings at each ``runjobs`` start.
Saving moves the next run to the first tick after now whenever the cron, the
time zone or ``enabled`` changes, so a change never triggers a catch-up run.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput
from django.utils import timezone

from .. import registry
from ..models import PeriodicSchedule
from ..serialization import MAX_DEPTH
from .config import argument_errors, default_time_zone, option_errors, unknown_job_message
from .cron import InvalidCron, UnknownTimeZone, next_tick, parse_cron, time_zone

_EDITABLE_FROM_SETTINGS = ("enabled",)


class _JSONField(forms.JSONField):
    """A JSON form field whose too-deep input is a form error, not a RecursionError."""

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except RecursionError:
            raise forms.ValidationError(
                f"This JSON nests deeper than Python can read; djobs stores at most {MAX_DEPTH} levels.",
                code="too_deep",
            ) from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return InvalidJSONInput(data)  # shown again as typed


class PeriodicScheduleForm(forms.ModelForm):
    """Create or edit a PeriodicSchedule, with errors that name the value and the fix."""

    class Meta:
        model = PeriodicSchedule
        fields = ["name", "cron", "timezone", "path", "args", "kwargs", "options", "enabled"]
        field_classes = {"args": _JSONField, "kwargs": _JSONField, "options": _JSONField}
        help_texts = {
            "cron": "Five fields (minute hour day-of-month month day-of-week), six with seconds "
            "first, or @hourly, @daily, @weekly, @monthly, @yearly. Example: 0 9 * * 1-5.",
            "timezone": "An IANA time zone such as Europe/Paris; ticks follow its wall clock.",
            "args": 'A JSON list, e.g. [42, "fr"].',
            "kwargs": 'A JSON object, e.g. {"force": true}.',
            "options": 'Optional JSON object: queue, priority, max_attempts, catch_up ("latest", '
            '"all" or "skip").',
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            self.fields["timezone"].initial = default_time_zone()
        if self.instance.pk and self.instance.from_settings:
            for name, field in self.fields.items():
                if name not in _EDITABLE_FROM_SETTINGS:
                    field.disabled = True
                    field.help_text = "Declared in DJOBS['PERIODIC']; change it in settings."

    def clean_cron(self) -> str:
        if self.fields["cron"].disabled:  # settings own it; the system check reports it
            return str(self.cleaned_data.get("cron", ""))
        value = self.cleaned_data.get("cron", "")
        try:
            return parse_cron(value).source
        except InvalidCron as exc:
            raise forms.ValidationError(str(exc), code="invalid_cron") from None

    def clean_timezone(self) -> str:
        if self.fields["timezone"].disabled:  # settings own it; the system check reports it
            return str(self.cleaned_data.get("timezone", ""))
        value = self.cleaned_data.get("timezone", "")
        try:
            time_zone(value)
        except UnknownTimeZone as exc:
            raise forms.ValidationError(str(exc), code="unknown_timezone") from None
        return str(value)

    def clean_path(self) -> str:
        if self.fields["path"].disabled:  # settings own it; the system check reports it
            return str(self.cleaned_data.get("path", ""))
        value = str(self.cleaned_data.get("path", "")).strip()
        if not registry.is_registered(value):
            raise forms.ValidationError(unknown_job_message(value), code="unknown_job")
        return value

    def clean_args(self) -> Any:
        if self.fields["args"].disabled:  # settings own it; the system check reports it
            return self.cleaned_data.get("args")
        value = self.cleaned_data.get("args")
        value = [] if value is None else value
        if not isinstance(value, list):
            raise forms.ValidationError(f"{value!r} is not a JSON list; write e.g. [1, 2] or [].")
        return value

    def clean_kwargs(self) -> Any:
        if self.fields["kwargs"].disabled:  # settings own it; the system check reports it
            return self.cleaned_data.get("kwargs")
        value = self.cleaned_data.get("kwargs")
        value = {} if value is None else value
        if not isinstance(value, dict):
            raise forms.ValidationError(f"{value!r} is not a JSON object; write e.g. {{}}.")
        return value

    def clean_options(self) -> Any:
        if self.fields["options"].disabled:  # settings own it; the system check reports it
            return self.cleaned_data.get("options")
        value = self.cleaned_data.get("options")
        value = {} if value is None else value
        errors = option_errors(value)
        if errors:
            raise forms.ValidationError([f"{message}." for message in errors])
        return value

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        path, args, kwargs = cleaned.get("path"), cleaned.get("args"), cleaned.get("kwargs")
        if path and args is not None and kwargs is not None and not self.fields["path"].disabled:
            for message in argument_errors(path, args, kwargs):
                self.add_error(None, f"{message}.")
        return cleaned

    def save(self, commit: bool = True) -> PeriodicSchedule:
        schedule: PeriodicSchedule = super().save(commit=False)
        timing = {"cron", "timezone", "enabled"}
        if not schedule.pk or timing & set(self.changed_data):
            schedule.next_run_at = None  # disabled; or enabled but invalid, which the scheduler logs
            if schedule.enabled:
                with contextlib.suppress(InvalidCron, UnknownTimeZone):
                    zone = time_zone(schedule.timezone)
                    schedule.next_run_at = next_tick(parse_cron(schedule.cron), zone, timezone.now())
        if commit:
            schedule.save()
            self.save_m2m()
        return schedule
