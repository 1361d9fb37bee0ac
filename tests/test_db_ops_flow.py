"""The seam's flow-control contract: the limited claim and the queue-state rows, on every database."""

from __future__ import annotations

import pytest
from django.utils import timezone

from djobs.db import DatabaseOps, get_ops
from djobs.flow.limits import RATE_SLACK, Limits
from djobs.models import FlowLimit, Job, QueueState
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

WORKER = "worker-flow"


@pytest.fixture
def ops() -> DatabaseOps:
    return get_ops()


def claim(
    ops: DatabaseOps, limits: Limits, limit: int = 10, queue: str = "q"
) -> tuple[list[Job], float | None]:
    return ops.job_claim_limited(
        queue=queue, limit=limit, worker_id=WORKER, now=timezone.now(), limits=limits
    )


def test_a_global_limit_counts_the_jobs_already_executing(ops: DatabaseOps) -> None:
    JobFactory(queue="q", state="executing", worker_id="other")
    JobFactory.create_batch(5, queue="q")
    jobs, retry_in = claim(ops, Limits(global_limit=3))
    assert len(jobs) == 2
    assert {j.state for j in jobs} == {"executing"} and retry_in is None
    assert Job.objects.filter(queue="q", state="executing").count() == 3
    assert claim(ops, Limits(global_limit=3))[0] == []


def test_a_limited_claim_returns_jobs_in_dispatch_order_with_their_attempt(ops: DatabaseOps) -> None:
    low = JobFactory(queue="q", priority=5)
    high = JobFactory(queue="q", priority=0)
    jobs, _ = claim(ops, Limits(global_limit=5))
    assert [j.id for j in jobs] == [high.id, low.id]
    assert [j.attempt for j in jobs] == [1, 1] and jobs[0].worker_id == WORKER


def test_a_rate_limit_logs_starts_and_says_when_the_next_may_start(ops: DatabaseOps) -> None:
    JobFactory.create_batch(5, queue="q")
    limits = Limits(rate_allowed=2, rate_period=30)
    jobs, _ = claim(ops, limits)
    assert len(jobs) == 2
    again, retry_in = claim(ops, limits)
    assert again == []
    assert retry_in is not None and 29 < retry_in <= 30 + RATE_SLACK
    assert len(FlowLimit.objects.get(queue="q").starts[""]) == 2


def test_a_partitioned_limit_applies_to_each_partition(ops: DatabaseOps) -> None:
    for account in ("a", "a", "a", "b", "b", "c"):
        JobFactory(queue="q", partition_key=account)
    JobFactory(queue="q", partition_key="c", state="executing", worker_id="other")
    jobs, _ = claim(ops, Limits(global_limit=1, partitioned=True))
    assert sorted(j.id for j in jobs) == sorted(
        Job.objects.filter(queue="q", worker_id=WORKER).values_list("id", flat=True)
    )
    running = Job.objects.filter(queue="q", state="executing")
    assert sorted(running.values_list("partition_key", flat=True)) == ["a", "b", "c"]


def test_other_queues_are_not_counted_or_claimed(ops: DatabaseOps) -> None:
    JobFactory.create_batch(2, queue="other", state="executing", worker_id="x")
    JobFactory(queue="other")
    JobFactory(queue="q")
    jobs, _ = claim(ops, Limits(global_limit=1))
    assert [j.queue for j in jobs] == ["q"]


def test_queue_state_rows_are_created_updated_and_listed(ops: DatabaseOps) -> None:
    ops.queue_state_update("q", paused=True)
    ops.queue_state_update("q", concurrency=7)
    state = ops.queue_state_list()["q"]
    assert state["paused"] is True and state["concurrency"] == 7
    assert QueueState.objects.count() == 1


def test_the_flow_clock_is_the_databases_epoch(ops: DatabaseOps) -> None:
    assert abs(ops.flow_clock() - timezone.now().timestamp()) < 5
