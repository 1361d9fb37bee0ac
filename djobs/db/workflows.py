"""Workflow SQL: releasing a step's dependents when it ends (rows are written in workflows_write.py).

Release is exactly once per step, decided by two conditional updates in one
transaction: the ending step's ``done`` flag (``False -> True``) says who
handles it, and a dependent leaves ``waiting`` only where it still is
``waiting``. Each costs O(the ending steps' edges), never a scan of the
workflow. Written with the ORM plus standard SQL, so every database shares it;
where ``UPDATE ... RETURNING`` is missing (MySQL, MariaDB) the flag is read
with ``SELECT ... FOR UPDATE`` first.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import transaction
from django.db.models import F, JSONField
from django.db.models.expressions import RawSQL

from ..states import TERMINAL_STATES, JobState
from .alias import AliasOps
from .fragments import MovedJob
from .operator import kept_key

if TYPE_CHECKING:
    pass

K = TypeVar("K")

FAILED_STATES = frozenset({JobState.DISCARDED, JobState.CANCELLED})


@dataclass
class Released:
    """What one release did: dependents made runnable (by queue) and dependents cancelled."""

    queues: set[str] = field(default_factory=set)
    released: list[int] = field(default_factory=list)
    scheduled: list[int] = field(default_factory=list)  # released, but given a later time
    cancelled: list[MovedJob] = field(default_factory=list)
    finished: int = 0  # workflows this release finished


class WorkflowOps(AliasOps):
    """The workflow half of :class:`djobs.db.base.DatabaseOps`."""

    def append_error_sql(self, fields: str) -> str:
        raise NotImplementedError

    @property
    def supports_update_returning(self) -> bool:
        """Whether ``UPDATE ... RETURNING`` exists (not on MySQL or MariaDB)."""
        return self.connection.vendor != "mysql"

    @property
    def _text_type(self) -> str:
        # The type a text parameter is cast to inside a JSON object (CHAR is one character on PostgreSQL).
        return "CHAR" if self.connection.vendor == "mysql" else "TEXT"

    @contextmanager
    def workflow_transaction(self) -> Iterator[None]:
        """Open a transaction for workflow writes (on SQLite, holding the write lock from its start)."""
        # SQLite: take the write lock up front (a deferred transaction that reads
        # and then writes fails at once with SQLITE_BUSY under concurrent writers).
        immediate = getattr(self, "_immediate", None)
        if immediate is not None and not self.connection.in_atomic_block:
            with immediate():
                yield
            return
        with transaction.atomic(using=self.alias):
            yield

    # -- release -------------------------------------------------------------------

    def _among(self, column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
        """Return SQL testing ``column`` against ``ids``, and its parameters."""
        if self.connection.vendor == "postgresql":
            # One array parameter: thousands of placeholders cost more to send than the update.
            return f"{column} = ANY(%s)", [list(ids)]
        return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)

    def _flip_done(self, ids: Sequence[int]) -> list[tuple[int, Any]]:
        """Set ``done`` on the steps of ``ids`` not done yet; return ``(job id, workflow id)`` of those."""
        from ..workflows.models import WorkflowStep

        if self.supports_update_returning:
            among, params = self._among("job_id", ids)
            with self.connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE djobs_workflow_step SET done = %s WHERE {among} AND done = %s "
                    "RETURNING job_id, workflow_id",
                    [True, *params, False],
                )
                return [(int(pk), wf) for pk, wf in cursor.fetchall()]
        steps = WorkflowStep.objects.using(self.alias)
        # A locking read sees the newest committed flag and holds it until commit.
        rows = list(
            steps.filter(job_id__in=list(ids), done=False)
            .select_for_update()
            .values_list("job_id", "workflow_id")
        )
        if rows:
            steps.filter(job_id__in=[pk for pk, _ in rows]).update(done=True)
        return [(int(pk), wf) for pk, wf in rows]

    def workflow_release(self, ended: Sequence[tuple[int, str]], *, now: datetime) -> Released:
        """Handle steps that reached a terminal state: release, or cancel, their dependents.

        ``ended`` is ``(job id, state)`` pairs. A step is handled once, whoever
        calls: a completed one takes one off each dependent's count, and a
        dependent whose count reaches 0 leaves ``waiting``; a discarded or
        cancelled one cancels its dependents (unless they ignore failed
        dependencies), and so on transitively, in this transaction.
        """
        result = Released()
        todo = [(int(pk), state) for pk, state in ended if state in TERMINAL_STATES]
        with self.workflow_transaction():
            while todo:
                todo = self._release_round(todo, now, result)
        return result

    def _release_round(
        self, ended: list[tuple[int, str]], now: datetime, result: Released
    ) -> list[tuple[int, str]]:
        from ..workflows.models import Workflow, WorkflowState, WorkflowStep

        states = dict(ended)
        steps = WorkflowStep.objects.using(self.alias)
        workflows = Workflow.objects.using(self.alias)
        if self.connection.features.has_select_for_update:
            # Lock the workflows first, in one order: adding a step does the same,
            # so the two wait for each other rather than deadlock.
            mine = steps.filter(job_id__in=sorted(states), done=False).values("workflow_id")
            locked = workflows.filter(pk__in=mine).order_by("pk").select_for_update()
            if not list(locked.values_list("pk", flat=True)):
                return []
        flipped = self._flip_done(sorted(states))
        if not flipped:
            return []
        per_workflow = Counter(wf for _, wf in flipped)
        for n, group in _by_amount(per_workflow):
            workflows.filter(pk__in=group).update(remaining=F("remaining") - n)
        result.finished += workflows.filter(
            pk__in=list(per_workflow), remaining__lte=0, state=WorkflowState.RUNNING
        ).update(state=WorkflowState.FINISHED, finished_at=now)
        handled = [pk for pk, _ in flipped]
        among, params = self._among("dependency_id", handled)
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT dependency_id, dependent_id FROM djobs_workflow_edge WHERE {among}", params
            )
            edges = [(int(a), int(b)) for a, b in cursor.fetchall()]
        if not edges:
            return []
        ignoring: set[int] = set()
        if any(state in FAILED_STATES for state in states.values()):
            ignoring = set(
                steps.filter(job_id__in={b for _, b in edges}, ignore_failed_deps=True).values_list(
                    "job_id", flat=True
                )
            )
        decrement: Counter[int] = Counter()
        failed_by: dict[int, int] = {}  # dependent -> the failed dependency that cancels it
        for dependency, dependent in edges:
            if states[dependency] in FAILED_STATES and dependent not in ignoring:
                failed_by.setdefault(dependent, dependency)
            else:
                decrement[dependent] += 1
        if decrement:
            ready = [pk for pk in self._count_down(decrement) if pk not in failed_by]
            if ready:
                self._make_runnable(ready, now, result)
        if not failed_by:
            return []
        return self._cancel_dependents(failed_by, now, result)

    def _count_down(self, decrement: Mapping[int, int]) -> list[int]:
        """Lower each step's count of unfinished dependencies; return the steps whose count reached 0."""
        from ..workflows.models import WorkflowStep

        ready: list[int] = []
        steps = WorkflowStep.objects.using(self.alias)
        for n, group in _by_amount(decrement):
            if self.supports_update_returning:
                among, params = self._among("job_id", group)
                with self.connection.cursor() as cursor:
                    cursor.execute(
                        f"UPDATE djobs_workflow_step SET pending = pending - %s WHERE {among} "
                        "RETURNING job_id, pending",
                        [n, *params],
                    )
                    ready.extend(int(pk) for pk, left in cursor.fetchall() if left <= 0)
            else:
                steps.filter(job_id__in=group).update(pending=F("pending") - n)
                ready.extend(steps.filter(job_id__in=group, pending__lte=0).values_list("job_id", flat=True))
        return sorted(ready)

    def _make_runnable(self, ids: list[int], now: datetime, result: Released) -> None:
        from ..models import Job

        jobs = Job.objects.using(self.alias)
        rows = list(
            jobs.filter(pk__in=ids, state=JobState.WAITING).values_list("pk", "queue", "scheduled_at")
        )
        # A step given schedule_in/run_at keeps its time: scheduled until then.
        later = [pk for pk, _, at in rows if at > now]
        due = [(pk, queue) for pk, queue, at in rows if at <= now]
        if later and jobs.filter(pk__in=later, state=JobState.WAITING).update(
            state=JobState.SCHEDULED, unique_key=kept_key(JobState.SCHEDULED)
        ):
            result.scheduled.extend(later)
        if due:
            moved = jobs.filter(pk__in=[pk for pk, _ in due], state=JobState.WAITING).update(
                state=JobState.AVAILABLE, scheduled_at=now, unique_key=kept_key(JobState.AVAILABLE)
            )
            if moved:
                result.released.extend(pk for pk, _ in due)
                result.queues.update(queue for _, queue in due)

    def _cancel_dependents(
        self, failed_by: dict[int, int], now: datetime, result: Released
    ) -> list[tuple[int, str]]:
        from ..models import Job
        from ..workflows.models import WorkflowStep

        names = dict(
            WorkflowStep.objects.using(self.alias)
            .filter(job_id__in=set(failed_by.values()))
            .values_list("job_id", "name")
        )
        states = dict(
            Job.objects.using(self.alias).filter(pk__in=set(failed_by.values())).values_list("pk", "state")
        )
        by_dependency: dict[int, list[int]] = defaultdict(list)
        for dependent, dependency in failed_by.items():
            by_dependency[dependency].append(dependent)
        cancelled: list[tuple[int, str]] = []
        for dependency, dependents in sorted(by_dependency.items()):
            reason = (
                f"Cancelled: dependency {names.get(dependency, '?')!r} (job {dependency}) "
                f"was {states.get(dependency, 'removed')}"
            )
            text = self._text_type
            fields = (
                f"'attempt', attempt, 'at', CAST(%s AS {text}), 'error', CAST(%s AS {text}), "
                "'traceback', NULL, 'exception', NULL, 'worker_id', NULL"
            )
            rows = Job.objects.using(self.alias).filter(pk__in=sorted(dependents), state=JobState.WAITING)
            ids = list(rows.values_list("pk", flat=True))
            if not ids:
                continue
            mine = Job.objects.using(self.alias).filter(pk__in=ids, state=JobState.WAITING)
            mine.update(
                state=JobState.CANCELLED,
                finished_at=now,
                unique_key=kept_key(JobState.CANCELLED),
                errors=RawSQL(
                    self.append_error_sql(fields), [now.isoformat(), reason], output_field=JSONField()
                ),
            )
            moved = Job.objects.using(self.alias).filter(
                pk__in=ids, state=JobState.CANCELLED, finished_at=now
            )
            for pk, queue, meta in moved.values_list("pk", "queue", "meta"):
                result.cancelled.append(MovedJob(pk, JobState.CANCELLED, queue, meta or {}, False))
                cancelled.append((pk, JobState.CANCELLED))
        return cancelled

    def workflow_missed(self, limit: int, *, ended_before: datetime) -> list[tuple[int, str]]:
        """Return ``(job id, state)`` of up to ``limit`` steps that ended before ``ended_before`` unhandled.

        A step that ended later may still be on its way to a release thread (its
        outcome is committed, its release not yet run): it is not missed yet.
        """
        from django.db.models import Exists, OuterRef, Q

        from ..models import Job
        from ..workflows.models import WorkflowStep

        # No finished_at (a row written by hand): taken, rather than left waiting forever.
        ended = Job.objects.using(self.alias).filter(
            Q(finished_at__lt=ended_before) | Q(finished_at__isnull=True),
            pk=OuterRef("job_id"),
            state__in=sorted(TERMINAL_STATES),
        )
        ids = list(
            WorkflowStep.objects.using(self.alias)
            .filter(done=False)
            .filter(Exists(ended))
            .values_list("job_id", flat=True)[:limit]
        )
        return list(Job.objects.using(self.alias).filter(pk__in=ids).values_list("pk", "state"))


def _by_amount(counts: Mapping[K, int]) -> list[tuple[int, list[K]]]:
    """Group ``key -> amount`` by amount: one UPDATE per distinct amount (most often just one)."""
    groups: dict[int, list[K]] = defaultdict(list)
    for key, n in counts.items():
        groups[n].append(key)
    return [(n, sorted(keys, key=str)) for n, keys in sorted(groups.items())]


__all__ = ["FAILED_STATES", "Released", "WorkflowOps"]
