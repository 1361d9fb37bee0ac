"""Jobs in the admin: the list, its bulk actions, the detail page and its operations.

The list stays fast on a table of ten million jobs: no full ``COUNT(*)`` (see
``djobs.admin.paginator``), filter choices from configuration, only the
indexed columns are sortable, and a queue filter without a state (or a
finished state without a queue) is read from each state's (or queue's) range
of an index (``JobChangeList``, ``djobs.db.admin_reads``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast, Concat
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from .. import operations, registry
from ..db import get_ops
from ..db.admin_reads import job_ids_across_queues, job_ids_across_states, reads_across_states
from ..durable.display import progress_view
from ..models import Batch, Job, WorkerProcess
from ..states import TERMINAL_STATES, JobState
from .display import (
    duration_between,
    error_line,
    format_duration,
    job_name,
    pretty_json,
    relative_time,
    state_badge,
)
from .filters import BatchFilter, PathFilter, QueueFilter
from .paginator import EstimatedCountPaginator, count_jobs

# States in which the last error is the job's current problem.
FAILING = (JobState.RETRYABLE, JobState.DISCARDED)
# Beside the name of a job declared @job(atomic=True), in the list and on its page.
ATOMIC_BADGE = format_html(
    ' <span class="djobs-badge djobs-atomic" title="{}">atomic</span>',
    "@job(atomic=True): its database writes commit with its completion, exactly once",
)

# Search by argument text reads at most this many of the latest jobs (about
# 2 us each on PostgreSQL: casting the JSON to text), newest first, and stops
# at ARGUMENT_SEARCH_LIMIT matches, so its cost is bounded whatever the size.
ARGUMENT_SEARCH_WINDOW = 50_000
ARGUMENT_SEARCH_LIMIT = 1_000

# The list's state filter (Django's filter on the state field) in the URL.
STATE_PARAMETER = "state__exact"

# The operations the job pages offer: label, operation, permission needed.
OPERATIONS: dict[str, tuple[str, str]] = {
    "retry": ("Retry", "change"),
    # Offered for jobs with saved progress (djobs.durable): retry, every step and item again.
    "restart": ("Retry from the start", "change"),
    "cancel": ("Cancel", "change"),
    "run_now": ("Run now", "change"),
    "delete": ("Delete", "delete"),
}


def _report(modeladmin: admin.ModelAdmin[Job], request: HttpRequest, verb: str, count: int) -> None:
    noun = "job" if count == 1 else "jobs"
    level = messages.SUCCESS if count else messages.WARNING
    modeladmin.message_user(request, f"{verb} {count} {noun}.", level)


@admin.action(description="Retry selected jobs", permissions=["change"])
def retry_jobs(modeladmin: admin.ModelAdmin[Job], request: HttpRequest, queryset: QuerySet[Job]) -> None:
    _report(modeladmin, request, "Retried", operations.retry(queryset))


@admin.action(description="Retry selected jobs from the start (clear saved progress)", permissions=["change"])
def restart_jobs(modeladmin: admin.ModelAdmin[Job], request: HttpRequest, queryset: QuerySet[Job]) -> None:
    _report(modeladmin, request, "Retried from the start", operations.retry(queryset, restart=True))


@admin.action(description="Cancel selected jobs", permissions=["change"])
def cancel_jobs(modeladmin: admin.ModelAdmin[Job], request: HttpRequest, queryset: QuerySet[Job]) -> None:
    _report(modeladmin, request, "Cancelled", operations.cancel(queryset))


@admin.action(description="Run selected jobs now", permissions=["change"])
def run_now_jobs(modeladmin: admin.ModelAdmin[Job], request: HttpRequest, queryset: QuerySet[Job]) -> None:
    _report(modeladmin, request, "Made available", operations.run_now(queryset))


@admin.action(description="Delete selected jobs", permissions=["delete"])
def delete_jobs(
    modeladmin: admin.ModelAdmin[Job], request: HttpRequest, queryset: QuerySet[Job]
) -> TemplateResponse | None:
    if request.POST.get("confirm") != "yes":
        # Django's own delete asks first; so do we, without loading the rows.
        return TemplateResponse(
            request,
            "djobs/admin/delete_confirmation.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": "Delete jobs?",
                "opts": Job._meta,
                "count": count_jobs(
                    operations.eligible("delete", queryset), split_of(request.GET, queryset.db)
                ),
                "post_items": [
                    (key, value)
                    for key in ("action", "select_across", "index", helpers.ACTION_CHECKBOX_NAME)
                    for value in request.POST.getlist(key)
                ],
            },
        )
    _report(modeladmin, request, "Deleted", operations.delete(queryset))
    return None


class JobChangeList(ChangeList):
    """The job list; with a queue and no state, or a finished state and no queue, read branch by branch."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        results: Any = self.result_list
        read = _SPLIT_READS.get(getattr(self.paginator, "split", ""))
        if read is None or not isinstance(results, QuerySet):
            return
        order = [str(field) for field in results.query.order_by]
        if not order or order[0].lstrip("-") not in ("id", "pk"):
            return  # only the id is sortable; anything else is read as it is
        # The page is still an unevaluated slice of the list: read its ids from
        # each branch's index, then its rows by primary key.
        query = results.query
        limit = self.result_count if query.high_mark is None else query.high_mark - query.low_mark
        ids = read(self.queryset, descending=order[0].startswith("-"), offset=query.low_mark, limit=limit)
        self.result_list = self.queryset.filter(pk__in=ids)


# How the list is read where no one index holds it in id order (djobs.db.admin_reads).
_SPLIT_READS = {"states": job_ids_across_states, "queues": job_ids_across_queues}


def split_of(params: Any, alias: str) -> str:
    """Return how the job list with these URL ``params`` is read: "states", "queues" or "" (as it is).

    A queue without a state: its jobs are in each state's index ("states"). A
    finished state without a queue: in each queue's range of the finished
    jobs' (queue, state, id) index ("queues"), in id order however old they
    are. A batch has its own index in id order, and is read from it.
    """
    if params.get(BatchFilter.parameter_name) or not reads_across_states(alias):
        return ""
    queue, state = params.get(QueueFilter.parameter_name), params.get(STATE_PARAMETER)
    if queue and not state:
        return "states"
    if state in TERMINAL_STATES and not queue:
        return "queues"
    return ""


class JobAdmin(admin.ModelAdmin):
    # Fits a 1280 px screen beside the filters: the function's name (its module on
    # hover) and relative times (the exact time on hover).
    list_display = [
        "id",
        "badge",
        "job",
        "queue",
        "attempts",
        "priority",
        "scheduled",
        "attempted",
        "finished",
        "duration",
    ]
    list_display_links = ["id", "job"]
    list_filter = ["state", QueueFilter, PathFilter, BatchFilter]
    search_fields = ["path"]  # the search itself is get_search_results, on indexed columns
    search_help_text = (
        "A job id, part of a job path, or else text in the arguments "
        f"(of the latest {ARGUMENT_SEARCH_WINDOW:,} jobs; the first {ARGUMENT_SEARCH_LIMIT:,} matches)."
    )
    sortable_by = ["id"]  # ordering by anything else would sort the whole table
    list_per_page = 50
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts would count the table once per choice
    paginator = EstimatedCountPaginator
    actions = [retry_jobs, restart_jobs, cancel_jobs, run_now_jobs, delete_jobs]
    change_list_template = "djobs/admin/job_change_list.html"

    class Media:
        css = {"all": ["djobs/admin.css"]}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs are enqueued by code

    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        # Django's own delete page must not remove a running job either.
        return super().has_delete_permission(request, obj) and (obj is None or operations.deletable(obj))

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6.1 passes action_location (change list or change form); 5.2 and 6.0 do not.
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location=action_location)  # type: ignore[call-arg]
        actions.pop("delete_selected", None)  # it loads every row; delete_jobs is one statement
        return actions

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return JobChangeList

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[Job],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> EstimatedCountPaginator:
        paginator = EstimatedCountPaginator(queryset, per_page, orphans, allow_empty_first_page)
        paginator.split = split_of(request.GET, queryset.db)
        return paginator

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return super().get_queryset(request).defer("args", "kwargs", "errors", "result", "tags")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Job], search_term: str
    ) -> tuple[QuerySet[Job], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.lstrip("#").isdigit():
            return queryset.filter(pk=int(term.lstrip("#"))), False
        # Paths come from the registry, so the filter is an IN list on the indexed column.
        paths = [p for p in registry.registered_paths() if term.lower() in p.lower()]
        condition = Q(path__in=[*paths, term])
        latest = None if paths else self._latest_id(queryset.db)
        if latest is not None:
            ids = self._argument_matches(queryset, term, latest)
            limited = len(ids) >= ARGUMENT_SEARCH_LIMIT
            request.djobs_argument_search = {  # type: ignore[attr-defined]
                "window": f"{ARGUMENT_SEARCH_WINDOW:,}",
                "limit": f"{ARGUMENT_SEARCH_LIMIT:,}",
                "limited": limited,
            }
            condition |= Q(pk__in=ids)
        return queryset.filter(condition), False

    @staticmethod
    def _argument_matches(queryset: QuerySet[Job], term: str, latest: int) -> list[int]:
        """Return the ids of the latest jobs whose arguments contain ``term``, newest first.

        Text in the arguments has no index: the search reads the latest
        ARGUMENT_SEARCH_WINDOW jobs (ids past ``latest`` minus the window), newest
        first, once, and keeps at most ARGUMENT_SEARCH_LIMIT ids, so the list's
        count and page then read those rows by primary key.
        """
        args_text = Concat(Cast("args", TextField()), Cast("kwargs", TextField()))
        matches = (
            queryset.alias(_args_text=args_text)
            .filter(pk__gt=latest - ARGUMENT_SEARCH_WINDOW, _args_text__icontains=term)
            .order_by("-pk")
            .values_list("pk", flat=True)
        )
        return list(matches[:ARGUMENT_SEARCH_LIMIT])

    @staticmethod
    def _latest_id(alias: str) -> int | None:
        return Job.objects.using(alias).order_by("-pk").values_list("pk", flat=True).first()

    @admin.display(description="state", ordering="state")
    def badge(self, job: Job) -> str:
        return state_badge(job.state)

    @admin.display(description="job")
    def job(self, job: Job) -> str:
        name = job_name(job.path)
        return name + ATOMIC_BADGE if registry.is_atomic(job.path) else name

    @admin.display(description="attempt")
    def attempts(self, job: Job) -> str:
        return f"{job.attempt}/{job.max_attempts}"

    @admin.display(description="scheduled")
    def scheduled(self, job: Job) -> str:
        return relative_time(job.scheduled_at)

    @admin.display(description="attempted")
    def attempted(self, job: Job) -> str:
        return relative_time(job.attempted_at)

    @admin.display(description="finished")
    def finished(self, job: Job) -> str:
        return relative_time(job.finished_at)

    @admin.display(description="duration")
    def duration(self, job: Job) -> str:
        return format_duration(duration_between(job.attempted_at, job.finished_at))

    # -- the detail page and its operations -----------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        operate = self.admin_site.admin_view(require_POST(self.operate_view))
        return [
            path("<path:object_id>/operate/", operate, name="{}_{}_operate".format(*info)),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method != "GET":
            raise PermissionDenied("Jobs are read-only; use the operations.")
        job = get_object_or_404(Job, pk=object_id) if object_id.isdigit() else None
        if job is None:
            raise Http404(f"No job with id {object_id!r}.")
        if not self.has_view_or_change_permission(request, job):
            raise PermissionDenied
        progress = get_ops(job._state.db).progress_get(int(job.pk))
        allowed = {
            name: label
            for name, (label, perm) in OPERATIONS.items()
            if getattr(self, f"has_{perm}_permission")(request, job)
            and (name != "restart" or progress is not None)
            and operations.eligible(_OPERATION_OF.get(name, name), Job.objects.filter(pk=job.pk)).exists()
        }
        batch = Batch.objects.filter(pk=str(job.batch_id)).first() if _is_uuid(job.batch_id) else None
        worker = WorkerProcess.objects.filter(pk=job.worker_id).first() if job.worker_id else None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Job {job.pk}: {job.path}",
            "subtitle": None,
            "opts": self.opts,
            "original": job,
            "job": job,
            "badge": state_badge(job.state),
            "atomic_badge": ATOMIC_BADGE if registry.is_atomic(job.path) else "",
            "duration": format_duration(duration_between(job.attempted_at, job.finished_at)),
            "json_fields": [
                ("Arguments", pretty_json(job.args)),
                ("Keyword arguments", pretty_json(job.kwargs)),
                ("Meta", pretty_json(job.meta)),
                ("Result", pretty_json(job.result)),
            ],
            "errors": [_error_view(entry) for entry in reversed(job.errors or [])],
            # The current error only while the job is failing; a job that completed
            # or was cancelled after failures keeps them as history below.
            "last_error": error_line(job.errors) if job.state in FAILING else "",
            "failing": job.state in FAILING,
            "batch": batch,
            "batch_id": job.batch_id,
            "workflow": _workflow_of(job),
            "progress": progress_view(progress),
            "worker": worker,
            "operations": allowed,
            "operate_url": reverse(f"{self.admin_site.name}:djobs_job_operate", args=[job.pk]),
            "has_view_permission": True,
        }
        return TemplateResponse(request, "djobs/admin/job_detail.html", context)

    def operate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        name = request.POST.get("operation", "")
        if name not in OPERATIONS:
            raise Http404(f"Unknown operation {name!r}.")
        label, perm = OPERATIONS[name]
        job = get_object_or_404(Job, pk=object_id) if object_id.isdigit() else None
        if job is None:
            raise Http404(f"No job with id {object_id!r}.")
        if not getattr(self, f"has_{perm}_permission")(request, job):
            raise PermissionDenied
        if name == "restart":
            count = operations.retry([job.pk], restart=True)
        else:
            count = getattr(operations, name)([job.pk])
        if count:
            self.message_user(request, f"{label}: job {job.pk} done.", messages.SUCCESS)
        else:
            self.message_user(
                request,
                f"{label}: job {job.pk} was not changed (it is no longer in a state that allows it).",
                messages.WARNING,
            )
        if name == "delete" and count:
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:djobs_job_changelist"))
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:djobs_job_change", args=[job.pk]))


# Admin operations that are a variant of an operation in djobs.operations.
_OPERATION_OF = {"restart": "retry"}


def _workflow_of(job: Job) -> tuple[str, str] | None:
    """Return (workflow id, step name) of a workflow step, or None."""
    key = (job.meta or {}).get("workflow_id")
    if key is None or not _is_uuid(str(key)):
        return None
    return str(key), str((job.meta or {}).get("workflow_step", ""))


def _is_uuid(value: str | None) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _error_view(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        return {"error": str(entry), "traceback": "", "attempt": "", "at": "", "extra": ""}
    known = {"attempt", "at", "error", "traceback"}
    extra = {k: v for k, v in entry.items() if k not in known}
    return {
        "attempt": entry.get("attempt", ""),
        "at": entry.get("at", ""),
        "error": str(entry.get("error", "")),
        "traceback": str(entry.get("traceback") or ""),
        "extra": pretty_json(extra) if extra else "",
    }
