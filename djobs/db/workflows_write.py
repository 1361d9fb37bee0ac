"""Writing workflows: their rows, steps and edges, and the locks and counts of adding a step."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import F

from ..states import JobState
from .alias import AliasOps
from .workflows import StepRow, _by_amount

if TYPE_CHECKING:
    from ..workflows.models import Workflow


class WorkflowWriteOps(AliasOps):
    """The writing half of the workflow SQL, mixed into :class:`djobs.db.base.DatabaseOps`."""

    def workflow_insert(self, workflows: Sequence[tuple[Any, str, int]], *, now: datetime) -> None:
        """Insert running workflows from ``(id, name, steps)``."""
        from ..workflows.models import Workflow as WorkflowModel
        from ..workflows.models import WorkflowState

        field = WorkflowModel._meta.pk
        assert field is not None
        created = self.connection.ops.adapt_datetimefield_value(now)
        self._insert_rows(
            "djobs_workflow",
            ("id", "name", "state", "size", "remaining", "created_at"),
            [
                (field.get_db_prep_value(pk, self.connection), name, WorkflowState.RUNNING, n, n, created)
                for pk, name, n in workflows
            ],
        )

    def workflow_insert_steps(
        self,
        steps: Sequence[tuple[Workflow, StepRow]],
        edges: Sequence[tuple[Workflow, int, int]],
    ) -> None:
        """Insert ``(workflow, step)`` rows and ``(workflow, dependency, dependent)`` edges."""
        from ..workflows.models import Workflow as WorkflowModel

        # Plain multi-row INSERTs: building a model instance per row cost more than the SQL.
        field = WorkflowModel._meta.pk
        assert field is not None
        keys: dict[Any, Any] = {}

        def key(workflow: Workflow) -> Any:
            if workflow.pk not in keys:
                keys[workflow.pk] = field.get_db_prep_value(workflow.pk, self.connection, prepared=False)
            return keys[workflow.pk]

        self._insert_rows(
            "djobs_workflow_step",
            ("job_id", "workflow_id", "name", "pending", "ignore_failed_deps", "done"),
            [(s.job_id, key(w), s.name, s.pending, s.ignore_failed_deps, False) for w, s in steps],
        )
        self._insert_rows(
            "djobs_workflow_edge",
            ("workflow_id", "dependency_id", "dependent_id"),
            [(key(w), a, b) for w, a, b in edges],
        )

    def _insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if len(rows) >= 50 and self.connection.vendor == "postgresql":
            from .postgres_workflows import copy_rows  # COPY: several times faster than INSERT

            copy_rows(self.connection, table, columns, rows)
            return
        marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        with self.connection.cursor() as cursor:
            for offset in range(0, len(rows), 1000):
                chunk = rows[offset : offset + 1000]
                cursor.execute(head + ", ".join([marks] * len(chunk)), [v for row in chunk for v in row])

    def workflow_lock_steps(self, workflow_id: Any, names: Sequence[str]) -> dict[str, tuple[int, bool]]:
        """Return ``name -> (job id, done)`` of ``names`` in the workflow, locked until commit.

        Adding a step after one of these while it may end: the lock makes the
        release wait for the new edge, or this read see the step done.
        """
        from ..workflows.models import WorkflowStep

        rows = WorkflowStep.objects.using(self.alias).filter(workflow_id=workflow_id, name__in=list(names))
        if self.connection.features.has_select_for_update:
            rows = rows.select_for_update()
        return {name: (int(pk), bool(done)) for name, pk, done in rows.values_list("name", "job_id", "done")}

    def workflow_add_waiting(self, workflow_id: Any, dependents: dict[int, int]) -> int:
        """Make jobs wait for ``n`` more steps each (``job id -> n``); return how many still waited.

        The counts go up first and the states are read after, under lock: a
        release that took a count to 0 meanwhile has moved its job on, so the
        caller sees it and rolls back.
        """
        from ..models import Job
        from ..workflows.models import WorkflowStep

        if not dependents:
            return 0
        ids = sorted(dependents)
        steps = WorkflowStep.objects.using(self.alias)
        for n, group in _by_amount(dependents):
            steps.filter(job_id__in=group).update(pending=F("pending") + n)
        jobs = Job.objects.using(self.alias).filter(pk__in=ids, state=JobState.WAITING)
        if self.connection.features.has_select_for_update:
            jobs = jobs.select_for_update()
        return len(list(jobs.values_list("pk", flat=True)))

    def workflow_grow(self, workflow_id: Any, n: int) -> bool:
        """Count ``n`` more steps in a workflow that is still running; False if it finished."""
        from ..workflows.models import Workflow, WorkflowState

        return bool(
            Workflow.objects.using(self.alias)
            .filter(pk=workflow_id, state=WorkflowState.RUNNING)
            .update(size=F("size") + n, remaining=F("remaining") + n)
        )


__all__ = ["WorkflowWriteOps"]
