"""Writing workflows: their rows, steps and edges, and the locks and counts of adding a step."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import F

from ..states import JobState
from .alias import AliasOps
from .workflows import _by_amount

#: A step to insert: ``(job id, workflow id, name, dependencies left, ignore_failed_deps)``.
StepRow = tuple[int, Any, str, int, bool]
#: A dependency edge to insert: ``(workflow id, dependency's job id, dependent's job id)``.
EdgeRow = tuple[Any, int, int]

_STEP_COLUMNS = ("job_id", "workflow_id", "name", "pending", "ignore_failed_deps", "done")
_EDGE_COLUMNS = ("workflow_id", "dependency_id", "dependent_id")


class WorkflowWriteOps(AliasOps):
    """The writing half of the workflow SQL, mixed into :class:`djobs.db.base.DatabaseOps`."""

    def _workflow_keys(self, ids: Sequence[Any]) -> dict[Any, Any]:
        """Return each workflow id as this database stores it (a UUID is a string or 32 hex digits)."""
        from ..workflows.models import Workflow

        field = Workflow._meta.pk
        assert field is not None
        return {pk: field.get_db_prep_value(pk, self.connection, prepared=False) for pk in set(ids)}

    def workflow_insert(self, workflows: Sequence[tuple[Any, str, int]], *, now: datetime) -> None:
        """Insert running workflows from ``(id, name, steps)``."""
        from ..workflows.models import WorkflowState

        created = self.connection.ops.adapt_datetimefield_value(now)
        keys = self._workflow_keys([pk for pk, _, _ in workflows])
        self._insert_rows(
            "djobs_workflow",
            ("id", "name", "state", "size", "remaining", "created_at"),
            [(keys[pk], name, WorkflowState.RUNNING, n, n, created) for pk, name, n in workflows],
        )

    def workflow_insert_steps(self, steps: Sequence[StepRow], edges: Sequence[EdgeRow]) -> None:
        """Insert step rows and dependency edges (plain multi-row INSERTs; COPY on PostgreSQL)."""
        keys = self._workflow_keys([step[1] for step in steps] + [edge[0] for edge in edges])
        self._insert_rows(
            "djobs_workflow_step",
            _STEP_COLUMNS,
            [(pk, keys[wf], name, n, ignore, False) for pk, wf, name, n, ignore in steps],
        )
        self._insert_rows("djobs_workflow_edge", _EDGE_COLUMNS, [(keys[wf], a, b) for wf, a, b in edges])

    def _insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
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


__all__ = ["EdgeRow", "StepRow", "WorkflowWriteOps"]
