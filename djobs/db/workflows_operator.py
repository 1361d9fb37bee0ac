"""Operator actions on whole workflows: retry from the failed steps (cancel is the plain job cancel)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Case, F, PositiveIntegerField, When

from ..states import JobState
from .alias import AliasOps
from .operator import kept_key

_FAILED = (JobState.DISCARDED, JobState.CANCELLED)


class WorkflowOperatorOps(AliasOps):
    """Retrying a workflow, mixed into :class:`djobs.db.base.DatabaseOps`."""

    def job_retry(self, jobs: Any, *, now: datetime) -> int:
        raise NotImplementedError

    def workflow_retry(
        self, workflow_id: Any, *, from_job: int | None, now: datetime
    ) -> dict[str, list[int]]:
        """Run a workflow's failed steps again; return the job ids made ``available`` and ``waiting``.

        The failed steps are those that ended discarded or cancelled; with
        ``from_job``, only that one and the failed steps below it. A retried
        step whose dependencies all completed runs now; the others wait again
        for the dependencies that did not complete (retried ones included).
        The workflow runs again until they end.
        """
        from ..models import Job
        from ..workflows.models import Workflow, WorkflowEdge, WorkflowState, WorkflowStep

        # A plain atomic block: job_retry opens one of its own inside (a savepoint here).
        with transaction.atomic(using=self.alias):
            rows = Workflow.objects.using(self.alias).filter(pk=workflow_id)
            if self.connection.features.has_select_for_update:
                rows = rows.select_for_update()
            if not list(rows.values_list("pk", flat=True)):
                return {"available": [], "waiting": []}
            ids = list(
                WorkflowStep.objects.using(self.alias)
                .filter(workflow_id=workflow_id)
                .values_list("job_id", flat=True)
            )
            states = dict(Job.objects.using(self.alias).filter(pk__in=ids).values_list("pk", "state"))
            deps: dict[int, list[int]] = defaultdict(list)
            below: dict[int, list[int]] = defaultdict(list)
            edges = WorkflowEdge.objects.using(self.alias).filter(workflow_id=workflow_id)
            for a, b in edges.values_list("dependency_id", "dependent_id"):
                deps[b].append(a)
                below[a].append(b)
            failed = {pk for pk, state in states.items() if state in _FAILED}
            if from_job is None:
                retry = failed
            else:
                retry, stack = set(), [from_job]
                while stack:
                    pk = stack.pop()
                    if pk in failed and pk not in retry:
                        retry.add(pk)
                        stack.extend(below[pk])
            if not retry:
                return {"available": [], "waiting": []}
            pending = {
                pk: sum(1 for d in deps[pk] if d in retry or states.get(d) != JobState.COMPLETED)
                for pk in retry
            }
            now_ids = sorted(pk for pk, n in pending.items() if n == 0)
            later_ids = sorted(pk for pk, n in pending.items() if n > 0)
            steps = WorkflowStep.objects.using(self.alias)
            by_amount: dict[int, list[int]] = defaultdict(list)
            for pk, n in pending.items():
                by_amount[n].append(pk)
            for n, group in by_amount.items():
                steps.filter(job_id__in=group).update(done=False, pending=n)
            jobs = Job.objects.using(self.alias)
            waiting = jobs.filter(pk__in=later_ids, state__in=_FAILED).update(
                state=JobState.WAITING,
                finished_at=None,
                scheduled_at=now,
                unique_key=kept_key(JobState.WAITING),
                max_attempts=Case(
                    When(attempt__gte=F("max_attempts"), then=F("attempt") + 1),
                    default=F("max_attempts"),
                    output_field=PositiveIntegerField(),
                ),
            )
            available = self.job_retry(jobs.filter(pk__in=now_ids, state__in=_FAILED), now=now)
            Workflow.objects.using(self.alias).filter(pk=workflow_id).update(
                state=WorkflowState.RUNNING,
                finished_at=None,
                remaining=F("remaining") + len(retry),
            )
        # Rows an operator moved meanwhile are left as they are.
        return {"available": now_ids[:available], "waiting": later_ids[:waiting]}


__all__ = ["WorkflowOperatorOps"]
