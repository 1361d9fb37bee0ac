"""Pruning around workflows: keep the jobs of unfinished workflows; drop finished ones with their jobs."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .alias import AliasOps


class WorkflowPruneOps(AliasOps):
    """The workflow part of pruning, mixed into :class:`djobs.db.base.DatabaseOps`."""

    def workflow_any_unfinished(self) -> bool:
        """Say whether some workflow is still running (its jobs must not be pruned)."""
        from ..workflows.models import Workflow, WorkflowState

        return Workflow.objects.using(self.alias).filter(state=WorkflowState.RUNNING).exists()

    def job_delete_finished_outside_workflows(self, *, state: str, before: Any, limit: int) -> int:
        """``job_delete_finished``, also keeping the jobs of workflows that are not finished."""
        from django.db.models import Exists, OuterRef

        from ..models import Batch, BatchState, Job
        from ..workflows.models import WorkflowState, WorkflowStep

        unfinished = WorkflowStep.objects.using(self.alias).filter(
            job_id=OuterRef("pk"), workflow__state=WorkflowState.RUNNING
        )
        # The batches not finished (few at a time): their jobs stay too.
        open_batches = [
            str(pk)
            for pk in Batch.objects.using(self.alias)
            .exclude(state=BatchState.FINISHED)
            .values_list("pk", flat=True)
        ]
        with transaction.atomic(using=self.alias):
            candidates = (
                Job.objects.using(self.alias)
                .filter(state=state, finished_at__lt=before)
                .exclude(Exists(unfinished))
            )
            if open_batches:
                candidates = candidates.exclude(meta__batch_id__in=open_batches)
            ids = list(candidates.order_by("finished_at").values_list("pk", flat=True)[:limit])
            if not ids:
                return 0
            return int(Job.objects.using(self.alias).filter(pk__in=ids, state=state)._raw_delete(self.alias))

    def workflow_prune(self, *, limit: int) -> int:
        """Delete up to ``limit`` finished workflows whose jobs are all gone, with their steps and edges."""
        from django.db.models import Exists, OuterRef

        from ..models import Job
        from ..workflows.models import Workflow, WorkflowEdge, WorkflowState, WorkflowStep

        left = Job.objects.using(self.alias).filter(
            pk__in=WorkflowStep.objects.using(self.alias)
            .filter(workflow_id=OuterRef(OuterRef("pk")))
            .values("job_id")
        )
        ids = list(
            Workflow.objects.using(self.alias)
            .filter(state=WorkflowState.FINISHED)
            .exclude(Exists(left))
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return 0
        with transaction.atomic(using=self.alias):
            WorkflowEdge.objects.using(self.alias).filter(workflow_id__in=ids)._raw_delete(self.alias)
            WorkflowStep.objects.using(self.alias).filter(workflow_id__in=ids)._raw_delete(self.alias)
            Workflow.objects.using(self.alias).filter(pk__in=ids)._raw_delete(self.alias)
        return len(ids)


__all__ = ["WorkflowPruneOps"]
