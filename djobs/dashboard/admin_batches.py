"""Batches in the admin: progress by state, callbacks and whether they fired, a link to the jobs."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ..models import Batch, BatchState, Job
from ..states import ACTIVE_STATES, TERMINAL_STATES, JobState
from .display import progress_bar
from .filters import batch_is

CALLBACKS = ("on_complete", "on_success", "on_discard")


def batch_counts(batch: Batch) -> dict[str, int]:
    """Return the jobs of ``batch`` per state.

    A finished batch keeps its counts on its row. For one still running, the
    unfinished jobs are counted through the batch index (active states only),
    and the rest of the sealed size is shown as "finished".
    """
    if batch.state == BatchState.FINISHED and batch.counts:
        return {str(k): int(v) for k, v in batch.counts.items() if k in TERMINAL_STATES}
    rows = (
        Job.objects.filter(batch_is(str(batch.pk)), state__in=sorted(ACTIVE_STATES))
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
    )
    counts = {state: n for state, n in rows}
    if batch.size is not None:
        finished = batch.size - sum(counts.values())
        if finished > 0:
            counts["finished"] = finished
    return counts


def callback_status(batch: Batch) -> list[tuple[str, str, bool]]:
    """Return (kind, job path, fired) for each callback of ``batch``."""
    fired_meta = (batch.meta or {}).get("fired") or {}
    counts = batch.counts or {}
    result = []
    for kind in CALLBACKS:
        spec = (batch.callbacks or {}).get(kind)
        if not spec:
            continue
        path = spec.get("path", str(spec)) if isinstance(spec, dict) else str(spec)
        if kind in fired_meta:
            fired = bool(fired_meta[kind])
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
        return format_html_join(
            "",
            '<div class="djobs-callback">{} &rarr; <code>{}</code>: <b class="djobs-fired-{}">{}</b></div>',
            (
                (kind, path, "yes" if fired else "no", "fired" if fired else "not yet")
                for kind, path, fired in status
            ),
        )

    @admin.display(description="jobs")
    def jobs(self, batch: Batch) -> str:
        url = reverse(f"{self.admin_site.name}:djobs_job_changelist") + f"?batch={batch.pk}"
        return format_html('<a href="{}">jobs of this batch</a>', url)
