"""Batches in the admin: progress by state, callbacks and whether they fired, a link to the jobs."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ..models import Batch, BatchState
from ..states import JobState
from .display import progress_bar

CALLBACKS = ("on_complete", "on_success", "on_discard")


def batch_counts(batch: Batch) -> dict[str, int]:
    """Return the jobs of ``batch`` per state (``djobs.batches.progress``: no full count)."""
    from ..batches import progress

    return progress(batch)


def callback_status(batch: Batch) -> list[tuple[str, str, int | bool]]:
    """Return (kind, job path, fired) per callback; fired is the callback job's id when known."""
    fired_meta = (batch.meta or {}).get("fired") or {}
    counts = batch.counts or {}
    result: list[tuple[str, str, int | bool]] = []
    for kind in CALLBACKS:
        spec = (batch.callbacks or {}).get(kind)
        if not spec:
            continue
        path = spec.get("path", str(spec)) if isinstance(spec, dict) else str(spec)
        fired: int | bool
        if kind in fired_meta:
            fired = fired_meta[kind] if isinstance(fired_meta[kind], int) else bool(fired_meta[kind])
        elif kind == "on_discard":
            fired = batch.discarded_at is not None
        elif kind == "on_success":
            fired = batch.state == BatchState.FINISHED and not any(
                counts.get(s) for s in (JobState.DISCARDED, JobState.CANCELLED)
            )
        else:
            fired = batch.state == BatchState.FINISHED
        result.append((kind, path, fired))
    return result


class BatchAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "state",
        "size",
        "progress",
        "callbacks_fired",
        "created_at",
        "finished_at",
        "jobs",
    ]
    list_filter = ["state"]
    search_fields = ["description", "=id"]
    readonly_fields = [
        "id", "description", "state", "size", "progress", "callbacks_fired", "jobs",
        "counts", "meta", "created_at", "sealed_at", "discarded_at", "finished_at",
    ]  # fmt: skip
    exclude = ["callbacks"]
    show_full_result_count = False

    class Media:
        css = {"all": ["djobs/admin.css"]}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # batches are opened by code

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # read-only: view permission shows the page

    @admin.display(description="progress")
    def progress(self, batch: Batch) -> str:
        return progress_bar(batch_counts(batch), batch.size)

    @admin.display(description="callbacks")
    def callbacks_fired(self, batch: Batch) -> str:
        status = callback_status(batch)
        if not status:
            return "-"
        rows = []
        for kind, path, fired in status:
            if fired is True or fired is False:
                outcome = format_html(
                    '<b class="djobs-fired-{}">{}</b>',
                    "yes" if fired else "no",
                    "fired" if fired else "not yet",
                )
            else:
                url = reverse(f"{self.admin_site.name}:djobs_job_change", args=[fired])
                outcome = format_html(
                    '<b class="djobs-fired-yes">fired</b> (<a href="{}">job {}</a>)', url, fired
                )
            rows.append(
                format_html(
                    '<div class="djobs-callback">{} &rarr; <code>{}</code>: {}</div>', kind, path, outcome
                )
            )
        return format_html_join("", "{}", ((row,) for row in rows))

    @admin.display(description="jobs")
    def jobs(self, batch: Batch) -> str:
        url = reverse(f"{self.admin_site.name}:djobs_job_changelist") + f"?batch={batch.pk}"
        return format_html('<a href="{}">jobs of this batch</a>', url)
