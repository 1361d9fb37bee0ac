"""The queue-state and limit rows of flow control.

``QueueState`` holds what an operator changed at runtime (paused, scaled,
limits overridden): it outlives worker restarts and every worker reads it.
``FlowLimit`` is the row a limited claim locks, one per limited queue: claims
of that queue take turns on it, which makes the count of executing jobs and
the log of recent starts exact across workers.
"""

from __future__ import annotations

from django.db import models


class QueueState(models.Model):
    """A queue's runtime state; a queue without a row runs as configured."""

    name = models.CharField(max_length=128, primary_key=True)
    paused = models.BooleanField(default=False)
    #: Per-process concurrency set by scale_queue; None keeps the configured one.
    concurrency = models.PositiveIntegerField(null=True, blank=True)
    #: Limits set at runtime; None keeps the configured ones (0 lifts a configured limit).
    global_limit = models.PositiveIntegerField(null=True, blank=True)
    rate_allowed = models.PositiveIntegerField(null=True, blank=True)
    rate_period = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "djobs"
        db_table = "djobs_queue_state"
        verbose_name = "queue state"

    def __str__(self) -> str:
        return self.name


class FlowLimit(models.Model):
    """The lock of a limited queue's claims, and its recent starts per partition (rate limits)."""

    queue = models.CharField(max_length=128, primary_key=True)
    #: partition key ("" for none) -> database epoch seconds of the starts still in the window.
    starts = models.JSONField(default=dict)

    class Meta:
        app_label = "djobs"
        db_table = "djobs_flow_limit"
        verbose_name = "flow limit"

    def __str__(self) -> str:
        return self.queue


__all__ = ["FlowLimit", "QueueState"]
