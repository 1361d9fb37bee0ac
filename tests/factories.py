"""factory-boy factories for the rows tests need directly."""

from __future__ import annotations

import factory
from django.utils import timezone

from djobs.models import Batch, Job, PeriodicSchedule, WorkerProcess


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    path = "tests.testapp.jobs.add"
    args = factory.LazyFunction(lambda: [1, 2])
    queue = "default"
    state = Job.State.AVAILABLE
    scheduled_at = factory.LazyFunction(timezone.now)


class BatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Batch

    description = factory.Sequence(lambda n: f"batch {n}")


class PeriodicScheduleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PeriodicSchedule

    name = factory.Sequence(lambda n: f"schedule-{n}")
    cron = "*/5 * * * *"
    path = "tests.testapp.jobs.add"
    args = factory.LazyFunction(lambda: [1, 1])


class WorkerProcessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkerProcess

    id = factory.Sequence(lambda n: f"worker-{n}")
    hostname = "test-host"
    pid = factory.Sequence(lambda n: 1000 + n)
