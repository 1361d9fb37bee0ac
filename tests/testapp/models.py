"""Tables the test suite's jobs write to, to prove what ran and how often."""

from __future__ import annotations

from django.db import models


class JobRun(models.Model):
    """One row per job run; the unique job_id proves a job ran exactly once."""

    job_id = models.BigIntegerField(unique=True)
    worker = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"run of job {self.job_id}"


class Marker(models.Model):
    """A named event a job reached (started, finished), for subprocess tests."""

    name = models.CharField(max_length=100)
    job_id = models.BigIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Effect(models.Model):
    """A database effect of an atomic job: exactly one row per job proves exactly once."""

    job_id = models.BigIntegerField()
    attempt = models.IntegerField()
    worker = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"effect of job {self.job_id} attempt {self.attempt}"


class Row(models.Model):
    """A row a durable iteration walks through (tests.testapp.durable_jobs)."""

    n = models.IntegerField()

    def __str__(self) -> str:
        return f"row {self.n}"


class RowVisit(models.Model):
    """One row per item a durable iteration processed: counts prove at least / exactly once."""

    row = models.CharField(max_length=64)
    job_id = models.BigIntegerField()
    attempt = models.IntegerField()

    def __str__(self) -> str:
        return f"job {self.job_id} visited {self.row}"
