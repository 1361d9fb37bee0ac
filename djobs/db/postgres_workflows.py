"""Workflows on PostgreSQL: rows written with COPY, and a round of completed steps released in two statements.

The generic release (djobs.db.workflows) takes about eight statements per
round; here a round whose ended steps all completed is two: the workflows'
locks, then one statement of data-modifying CTEs with the same conditional
updates. Rounds with a failed step (cancelling dependents, rare) keep the
generic path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..states import STATE_BITS, JobState
from .workflows import Released, WorkflowOps
from .workflows_write import _EDGE_COLUMNS, _STEP_COLUMNS, EdgeRow, StepRow, WorkflowWriteOps

# COPY's text format: backslash, tab, newline and carriage return must be escaped.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Fewer rows go in as one INSERT: a COPY costs a round trip more.
_COPY_FROM = 50


def _kept_key(state: str) -> str:
    # The SQL of djobs.db.operator.kept_key: the key stays where the mask covers ``state``.
    return f"CASE WHEN (j.unique_states & {STATE_BITS[state]}) <> 0 THEN j.unique_key END"


# The workflows' rows are locked first, in id order, by a statement of their
# own (_LOCK_SQL), as adding a step does: the two wait for each other instead
# of deadlocking, and the release statement, started once the locks are held,
# reads a snapshot that holds every edge a step added before them. (Inside one
# statement the snapshot is taken before the lock wait: an edge added
# meanwhile would be missed and its step left waiting forever.)
_LOCK_SQL = """
SELECT id FROM djobs_workflow
WHERE id IN (SELECT workflow_id FROM djobs_workflow_step WHERE job_id = ANY(%s::bigint[]) AND NOT done)
ORDER BY id FOR UPDATE
"""

# Why each part of the release is shaped so:
# - ``flipped`` is the exactly-once guard: only the transaction that turns
#   ``done`` on releases a step's dependents (a concurrent one re-checks the
#   flag after the row lock and skips it).
# - ``lowered`` leaves out the ended steps themselves (a row updated twice in
#   one statement keeps one of the two changes; an ended step's count no
#   longer matters). Concurrent decrements of one fan-in step serialise on its
#   row, and each sees the count the other left.
# - ``moved`` moves a dependent only where it is still waiting.
# - ``= ANY(...)`` hands each UPDATE its row ids as one array, so it reads
#   them through the primary key whatever the planner guesses of a CTE's size
#   (a join chose to scan every waiting job): O(the edges) per round.
_RELEASE_SQL = f"""
WITH flipped AS (
    UPDATE djobs_workflow_step SET done = TRUE
    WHERE job_id = ANY(%(ids)s::bigint[]) AND NOT done
    RETURNING job_id, workflow_id
),
counted AS (
    UPDATE djobs_workflow AS w
    SET remaining = w.remaining - f.n,
        state = CASE WHEN w.remaining - f.n <= 0 THEN 'finished' ELSE w.state END,
        finished_at = CASE WHEN w.remaining - f.n <= 0 AND w.state = 'running'
                           THEN %(now)s ELSE w.finished_at END
    FROM (SELECT workflow_id, count(*) AS n FROM flipped GROUP BY workflow_id) AS f
    WHERE w.id = f.workflow_id AND w.id = ANY(%(workflows)s::uuid[])
    RETURNING w.finished_at IS NOT DISTINCT FROM %(now)s AS finished
),
waits AS (
    SELECT e.dependent_id, count(*) AS n
    FROM djobs_workflow_edge AS e JOIN flipped AS f ON e.dependency_id = f.job_id
    GROUP BY e.dependent_id
),
lowered AS (
    UPDATE djobs_workflow_step AS s SET pending = s.pending - d.n
    FROM waits AS d
    WHERE s.job_id = d.dependent_id AND s.job_id = ANY(ARRAY(SELECT dependent_id FROM waits))
      AND s.job_id <> ALL(%(ids)s::bigint[])
    RETURNING s.job_id, s.pending
),
moved AS (
    UPDATE djobs_job AS j
    SET state = CASE WHEN j.scheduled_at > %(now)s THEN '{JobState.SCHEDULED}'
                     ELSE '{JobState.AVAILABLE}' END,
        scheduled_at = GREATEST(j.scheduled_at, %(now)s),
        unique_key = CASE WHEN j.scheduled_at > %(now)s THEN {_kept_key(JobState.SCHEDULED)}
                          ELSE {_kept_key(JobState.AVAILABLE)} END
    WHERE j.id = ANY(ARRAY(SELECT job_id FROM lowered WHERE pending <= 0)) AND j.state = '{JobState.WAITING}'
    RETURNING j.id, j.queue, j.state
)
SELECT id, queue, state, NULL FROM moved
UNION ALL
SELECT NULL, NULL, NULL, count(*) FROM counted WHERE finished
"""


def _text(value: Any) -> str:
    return str(value).translate(_ESCAPES)


class PostgresWorkflowOps(WorkflowOps, WorkflowWriteOps):
    """The workflow methods PostgreSQL does its own way, mixed into :class:`djobs.db.postgres.PostgresOps`."""

    def _release_round(
        self, ended: list[tuple[int, str]], now: datetime, result: Released
    ) -> list[tuple[int, str]]:
        if any(state != JobState.COMPLETED for _, state in ended):
            return super()._release_round(ended, now, result)
        ids = sorted(pk for pk, _ in ended)
        with self.connection.cursor() as cursor:
            cursor.execute(_LOCK_SQL, [ids])
            workflows = [pk for (pk,) in cursor.fetchall()]
            if not workflows:
                return []
            cursor.execute(_RELEASE_SQL, {"ids": ids, "workflows": workflows, "now": now})
            for pk, queue, state, finished in cursor.fetchall():
                if pk is None:
                    result.finished += int(finished)
                elif state == JobState.AVAILABLE:
                    result.released.append(int(pk))
                    result.queues.add(queue)
                else:
                    result.scheduled.append(int(pk))
        result.released.sort()
        result.scheduled.sort()
        return []

    def workflow_insert(self, workflows: Sequence[tuple[Any, str, int]], *, now: datetime) -> None:
        if len(workflows) < _COPY_FROM:
            super().workflow_insert(workflows, now=now)
            return
        created = now.isoformat()
        self._copy(
            "djobs_workflow",
            ("id", "name", "state", "size", "remaining", "created_at"),
            "".join(f"{pk}\t{_text(name)}\trunning\t{n}\t{n}\t{created}\n" for pk, name, n in workflows),
        )

    def workflow_insert_steps(self, steps: Sequence[StepRow], edges: Sequence[EdgeRow]) -> None:
        if len(steps) + len(edges) < _COPY_FROM:
            super().workflow_insert_steps(steps, edges)
            return
        # The lines are built here rather than through a generic row writer: one
        # f-string per row is most of what enqueueing a step costs in Python.
        keys = {pk: str(pk) for pk in {step[1] for step in steps}}
        keys.update((pk, str(pk)) for pk in {edge[0] for edge in edges} - keys.keys())
        self._copy(
            "djobs_workflow_step",
            _STEP_COLUMNS,
            "".join(
                f"{pk}\t{keys[wf]}\t{_text(name)}\t{n}\t{'t' if ignore else 'f'}\tf\n"
                for pk, wf, name, n, ignore in steps
            ),
        )
        if edges:
            lines = "".join(f"{keys[wf]}\t{a}\t{b}\n" for wf, a, b in edges)
            self._copy("djobs_workflow_edge", _EDGE_COLUMNS, lines)

    def _copy(self, table: str, columns: Sequence[str], text: str) -> None:
        """Write ``text`` (COPY text-format lines) into ``table``."""
        with (
            self.connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            copy.write(text)


__all__ = ["PostgresWorkflowOps"]
