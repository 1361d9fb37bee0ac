"""Workflows in the admin: the list, and a page of each workflow's steps as an indented graph.

The page lists every step in dependency order, indented by its depth (the
longest path from a step with no dependencies), with its state, its job and
the steps it waits for. Cancel and retry act on the whole workflow.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from ..models import Job, Workflow, WorkflowEdge, WorkflowStep
from ..states import TERMINAL_STATES, JobState
from .display import state_badge

#: name -> (label, the Job permission it needs); each acts on the whole workflow.
OPERATIONS = {"cancel": ("Cancel workflow", "change"), "retry": ("Retry failed steps", "change")}


def step_rows(workflow: Workflow) -> list[dict[str, Any]]:
    """Return the workflow's steps in dependency order with their depth, job and dependency names."""
    steps = dict(WorkflowStep.objects.filter(workflow=workflow).values_list("job_id", "name"))
    jobs = {
        job.pk: job for job in Job.objects.filter(pk__in=list(steps)).only("id", "state", "path", "queue")
    }
    deps: dict[int, list[int]] = defaultdict(list)
    for a, b in WorkflowEdge.objects.filter(workflow=workflow).values_list("dependency_id", "dependent_id"):
        deps[b].append(a)
    depth: dict[int, int] = {}

    def depth_of(pk: int, seen: frozenset[int] = frozenset()) -> int:
        if pk not in depth:
            parents = [d for d in deps[pk] if d in steps and d not in seen]
            depth[pk] = 1 + max((depth_of(d, seen | {pk}) for d in parents), default=-1)
        return depth[pk]

    for pk in steps:
        depth_of(pk)
    rows = []
    for pk in sorted(steps, key=lambda pk: (depth[pk], pk)):
        job = jobs.get(pk)
        rows.append(
            {
                "name": steps[pk],
                "job_id": pk,
                "job": job,
                "badge": state_badge(job.state) if job else "(pruned)",
                "depth": depth[pk],
                "indent": depth[pk] * 24,
                "deps": sorted(steps[d] for d in deps[pk] if d in steps),
            }
        )
    return rows


class WorkflowAdmin(admin.ModelAdmin):
    list_display = ["__str__", "state", "progress", "created_at", "finished_at"]
    list_filter = ["state"]
    search_fields = ["name", "=id"]
    actions = ["cancel_selected", "retry_selected"]
    show_full_result_count = False

    class Media:
        css = {"all": ["djobs/admin.css"]}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # workflows are enqueued by code

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # read-only: the operations below need the Job change permission

    def _may_operate(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("djobs.change_job"))

    @admin.display(description="steps ended")
    def progress(self, workflow: Workflow) -> str:
        return f"{workflow.size - workflow.remaining} of {workflow.size}"

    @admin.action(description="Cancel the selected workflows (every step not ended)")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        self._bulk(request, queryset, "cancel")

    @admin.action(description="Retry the failed steps of the selected workflows")
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        self._bulk(request, queryset, "retry")

    def _bulk(self, request: HttpRequest, queryset: QuerySet[Workflow], name: str) -> None:
        if not self._may_operate(request):
            raise PermissionDenied
        count = sum(self._operate(workflow.pk, name) for workflow in queryset)
        self.message_user(request, f"{OPERATIONS[name][0]}: {count} step(s) changed.", messages.SUCCESS)

    @staticmethod
    def _operate(workflow_id: Any, name: str) -> int:
        from ..workflows.operations import cancel_workflow, retry_workflow

        if name == "cancel":
            return cancel_workflow(workflow_id)
        moved = retry_workflow(workflow_id)
        return len(moved["available"]) + len(moved["waiting"])

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        operate = self.admin_site.admin_view(require_POST(self.operate_view))
        return [
            path("<path:object_id>/operate/", operate, name="{}_{}_operate".format(*info)),
            *super().get_urls(),
        ]

    def _get(self, request: HttpRequest, object_id: str) -> Workflow:
        try:
            workflow = get_object_or_404(Workflow, pk=object_id)
        except Exception as exc:  # a malformed UUID
            raise Http404(f"No workflow with id {object_id!r}.") from exc
        if not self.has_view_or_change_permission(request, workflow):
            raise PermissionDenied
        return workflow

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method != "GET":
            raise PermissionDenied("Workflows are read-only; use the operations.")
        workflow = self._get(request, object_id)
        rows = step_rows(workflow)
        states = [row["job"].state for row in rows if row["job"] is not None]
        allowed: dict[str, str] = {}
        if self._may_operate(request):
            if any(state not in TERMINAL_STATES for state in states):
                allowed["cancel"] = OPERATIONS["cancel"][0]
            if any(state in (JobState.DISCARDED, JobState.CANCELLED) for state in states):
                allowed["retry"] = OPERATIONS["retry"][0]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Workflow {workflow}",
            "subtitle": None,
            "opts": self.opts,
            "original": workflow,
            "workflow": workflow,
            "badge": format_html(
                '<span class="djobs-badge djobs-state-{}">{}</span>', workflow.state, workflow.state
            ),
            "steps": rows,
            "operations": allowed,
            "operate_url": reverse(f"{self.admin_site.name}:djobs_workflow_operate", args=[workflow.pk]),
            "has_view_permission": True,
        }
        return TemplateResponse(request, "djobs/admin/workflow_detail.html", context)

    def operate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        name = request.POST.get("operation", "")
        if name not in OPERATIONS:
            raise Http404(f"Unknown operation {name!r}.")
        workflow = self._get(request, object_id)
        if not self._may_operate(request):
            raise PermissionDenied
        count = self._operate(workflow.pk, name)
        level = messages.SUCCESS if count else messages.WARNING
        self.message_user(request, f"{OPERATIONS[name][0]}: {count} step(s) changed.", level)
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:djobs_workflow_change", args=[workflow.pk])
        )


__all__ = ["WorkflowAdmin", "step_rows"]
