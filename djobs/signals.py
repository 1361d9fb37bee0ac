"""Signals the dispatcher sends around each job.

``job_started(sender=Job, job=job)`` is sent in the job's thread just before
its function is called. ``job_finished(sender=Job, job=job, outcome=...,
state=..., duration=..., exception=...)`` is sent after it returned or raised:
``outcome`` is one of ``completed``, ``snoozed``, ``cancelled``,
``discarded``, ``retryable`` or ``exhausted`` (failed on its last attempt),
``state`` the state the row moves to, ``duration`` seconds. Receivers run in
the job's thread and must be quick; an exception in a receiver fails the job.

::

    from django.dispatch import receiver
    from djobs.signals import job_finished

    @receiver(job_finished)
    def count(sender, job, outcome, duration, **kwargs):
        metrics.timing(f"jobs.{job.path}.{outcome}", duration)
"""

from __future__ import annotations

from django.dispatch import Signal

job_started = Signal()
job_finished = Signal()

__all__ = ["job_finished", "job_started"]
