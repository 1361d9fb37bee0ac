"""The rows djobs keeps: jobs, batches, periodic schedules and live worker processes."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import IsNull
from django.utils import timezone as dj_timezone

from .states import ACTIVE_STATES, TERMINAL_STATES, JobState


def _empty_list() -> list[Any]:
    return []


def _empty_dict() -> dict[str, Any]:
    return {}


_ACTIVE = sorted(ACTIVE_STATES)
_TERMINAL = sorted(TERMINAL_STATES)


class Job(models.Model):
    """One call of a registered ``@job`` function, from insertion to its final state."""

    State = JobState

    id = models.BigAutoField(primary_key=True)
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.AVAILABLE)
    queue = models.CharField(max_length=128, default="default")
    path = models.CharField(max_length=255, help_text="Dotted path of the @job function.")
    args = models.JSONField(default=_empty_list, blank=True)
    kwargs = models.JSONField(default=_empty_dict, blank=True)
    meta = models.JSONField(default=_empty_dict, blank=True)
    tags = models.JSONField(default=_empty_list, blank=True)
    priority = models.PositiveSmallIntegerField(default=0, help_text="0 runs first, 9 last.")
    # The order within a priority: a django.tasks Task stores its Django priority
    # negated here (higher Django priorities sort first); plain jobs keep 0.
    subpriority = models.SmallIntegerField(
        default=0, db_default=0, help_text="Within a priority, lower runs first (django.tasks order)."
    )
    attempt = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=20)
    errors = models.JSONField(default=_empty_list, blank=True)
    result = models.JSONField(null=True, blank=True)
    # NULL, not "", means "not unique": the unique index skips NULLs.
    unique_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    # Bit mask of the states in which unique_key still holds (djobs.states.STATE_BITS).
    unique_states = models.PositiveSmallIntegerField(default=0)
    # The key the job was enqueued with. unique_key is cleared when the job leaves
    # the states its uniqueness covers; coming back to one, it takes this key again
    # if no other job holds it meanwhile.
    unique_base = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    inserted_at = models.DateTimeField(default=dj_timezone.now)
    scheduled_at = models.DateTimeField(default=dj_timezone.now)
    # When the current (or last) attempt started; NULL while a claimed job waits for a thread.
    attempted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    # The partition_by arguments of a partitioned queue's job (djobs.flow.partition), set at
    # enqueue; limits then apply per value. NULL elsewhere.
    partition_key = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001

    class Meta:
        db_table = "djobs_job"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["unique_key"],
                condition=Q(unique_key__isnull=False),
                name="djobs_job_unique_key",
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=0, priority__lte=9), name="djobs_job_priority_range"
            ),
            models.CheckConstraint(
                condition=Q(subpriority__gte=-100, subpriority__lte=100), name="djobs_job_subpriority_range"
            ),
        ]
        indexes = [
            # The claim: runnable jobs of a queue in dispatch order.
            models.Index(
                fields=["queue", "priority", "subpriority", "scheduled_at", "id"],
                condition=Q(state=JobState.AVAILABLE),
                name="djobs_job_claim",
            ),
            # The stager: scheduled and retryable jobs by due time.
            models.Index(
                fields=["scheduled_at"],
                condition=Q(state__in=[JobState.SCHEDULED, JobState.RETRYABLE]),
                name="djobs_job_staged",
            ),
            # The batch check: "does this batch still have unfinished jobs" reads only
            # the active rows, so its cost does not grow with finished jobs.
            models.Index(
                KeyTextTransform("batch_id", "meta"),
                # Jobs outside any batch are left out: every claim and stage of a
                # plain job would otherwise write a NULL entry here.
                condition=Q(state__in=_ACTIVE) & Q(IsNull(KeyTextTransform("batch_id", "meta"), False)),
                name="djobs_job_batch_active",
            ),
            # Listing a batch's jobs in any state (the admin's batch filter). Partial:
            # jobs outside batches (most of the table) are left out of it.
            models.Index(
                KeyTextTransform("batch_id", "meta"),
                "id",
                condition=Q(IsNull(KeyTextTransform("batch_id", "meta"), False)),
                name="djobs_job_batch",
            ),
            # The pruner (state, finished before), terminal-state counts and the
            # dashboard's throughput. Every other state has its own partial index
            # above, so no full (state, ...) index is needed: on PostgreSQL each
            # full index costs an entry on every state change of every job.
            models.Index(
                fields=["state", "finished_at"],
                condition=Q(state__in=_TERMINAL),
                name="djobs_job_finished",
            ),
            # Rescue: executing jobs by the worker process holding them.
            models.Index(
                fields=["worker_id"],
                condition=Q(state=JobState.EXECUTING),
                name="djobs_job_executing",
            ),
            models.Index(fields=["path", "state"], name="djobs_job_path_state"),
            # Workflow steps waiting for their dependencies (the dashboard's counts).
            models.Index(
                fields=["state", "queue"], condition=Q(state=JobState.WAITING), name="djobs_job_waiting"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.path} #{self.pk} ({self.state})"

    @property
    def batch_id(self) -> str | None:
        value = (self.meta or {}).get("batch_id")
        return str(value) if value is not None else None

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    #: Set on the object returned by enqueue when a unique job already existed.
    duplicate: bool = False


class BatchState(models.TextChoices):
    OPEN = "open", "Open"  # jobs are still being added
    RUNNING = "running", "Running"  # sealed, some jobs not terminal yet
    FINISHED = "finished", "Finished"


class Batch(models.Model):
    """A group of jobs with callbacks fired once when the group is done."""

    State = BatchState

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    description = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=16, choices=BatchState.choices, default=BatchState.OPEN)
    size = models.PositiveIntegerField(null=True, blank=True, help_text="Known once sealed.")
    callbacks = models.JSONField(default=_empty_dict, blank=True)
    counts = models.JSONField(default=_empty_dict, blank=True)
    meta = models.JSONField(default=_empty_dict, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now)
    sealed_at = models.DateTimeField(null=True, blank=True)
    discarded_at = models.DateTimeField(
        null=True, blank=True, help_text="When on_discard fired (the first job discarded)."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "djobs_batch"
        ordering = ["-created_at"]
        verbose_name_plural = "batches"
        indexes = [models.Index(fields=["state", "created_at"], name="djobs_batch_state")]

    def __str__(self) -> str:
        return self.description or str(self.id)


class PeriodicSchedule(models.Model):
    """A cron schedule that enqueues a job at each tick, exactly once."""

    name = models.CharField(max_length=128, unique=True)
    cron = models.CharField(max_length=128, help_text="Five cron fields or @hourly, @daily...")
    timezone = models.CharField(max_length=64, default="UTC")
    path = models.CharField(max_length=255, help_text="Dotted path of the @job function.")
    args = models.JSONField(default=_empty_list, blank=True)
    kwargs = models.JSONField(default=_empty_dict, blank=True)
    options = models.JSONField(
        default=_empty_dict, blank=True, help_text="queue, priority, max_attempts overrides."
    )
    enabled = models.BooleanField(default=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    from_settings = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=dj_timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "djobs_periodic_schedule"
        ordering = ["name"]
        indexes = [models.Index(fields=["next_run_at"], condition=Q(enabled=True), name="djobs_periodic_due")]

    def __str__(self) -> str:
        return self.name


class WorkerProcess(models.Model):
    """A live ``runjobs`` process, kept fresh by its heartbeat."""

    id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    queues = models.JSONField(default=_empty_dict, blank=True)
    started_at = models.DateTimeField(default=dj_timezone.now)
    heartbeat_at = models.DateTimeField(default=dj_timezone.now)
    #: Job thread -> the database session its atomic jobs run on, ended when it is presumed dead.
    sessions = models.JSONField(default=_empty_dict, blank=True)

    class Meta:
        db_table = "djobs_worker"
        ordering = ["-started_at"]
        verbose_name = "worker process"
        verbose_name_plural = "worker processes"
        indexes = [models.Index(fields=["heartbeat_at"], name="djobs_worker_heartbeat")]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


from .durable.models import JobProgress  # noqa: E402, F401
from .flow.models import FlowLimit, QueueState  # noqa: E402, F401
from .workflows.models import Workflow, WorkflowEdge, WorkflowState, WorkflowStep  # noqa: E402, F401
