"""The rows of workflows: one per workflow, one per step, one per dependency edge.

Step and edge rows name jobs by id without a foreign key: the pruner deletes
jobs with raw SQL, and a step's row is deleted with its workflow's.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone as dj_timezone


class WorkflowState(models.TextChoices):
    RUNNING = "running", "Running"  # some step is not terminal yet
    FINISHED = "finished", "Finished"


class Workflow(models.Model):
    """A graph of jobs where each step starts once the steps it depends on completed."""

    State = WorkflowState

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=16, choices=WorkflowState.choices, default=WorkflowState.RUNNING)
    size = models.PositiveIntegerField(default=0, help_text="Steps, including those added while running.")
    # Steps not terminal yet; the workflow finishes when this reaches 0.
    remaining = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=dj_timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "djobs_workflow"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "created_at"], name="djobs_workflow_state")]

    def __str__(self) -> str:
        return self.name or str(self.id)


class WorkflowStep(models.Model):
    """A job's place in its workflow: its name and how many dependencies it still waits for."""

    job_id = models.BigIntegerField(primary_key=True)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=255)
    # Dependencies not completed yet; the step is released when this reaches 0.
    pending = models.IntegerField(default=0)
    ignore_failed_deps = models.BooleanField(default=False)
    # Set once, by whoever first handles the job's terminal state: the guard that
    # makes its release of dependents happen once however often the hook runs.
    done = models.BooleanField(default=False)

    class Meta:
        db_table = "djobs_workflow_step"
        constraints = [models.UniqueConstraint(fields=["workflow", "name"], name="djobs_workflow_step_name")]
        indexes = [models.Index(fields=["done", "job_id"], name="djobs_workflow_step_done")]

    def __str__(self) -> str:
        return f"{self.name} (job {self.job_id})"


class WorkflowEdge(models.Model):
    """``dependent_id`` waits for ``dependency_id``."""

    id = models.BigAutoField(primary_key=True)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="edges")
    dependency_id = models.BigIntegerField()
    dependent_id = models.BigIntegerField()

    class Meta:
        db_table = "djobs_workflow_edge"
        indexes = [
            # Release: the dependents of a job that ended (O(its dependents)).
            models.Index(fields=["dependency_id"], name="djobs_workflow_edge_dependency"),
            # A step's dependencies: its results, the admin's graph.
            models.Index(fields=["dependent_id"], name="djobs_workflow_edge_dependent"),
        ]

    def __str__(self) -> str:
        return f"job {self.dependent_id} after job {self.dependency_id}"


__all__ = ["Workflow", "WorkflowEdge", "WorkflowState", "WorkflowStep"]
