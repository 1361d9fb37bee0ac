"""Flow-control settings, the pure limit rules, partition keys at enqueue, and the queue commands."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from djobs import operations
from djobs.checks import check_partition_by, check_settings
from djobs.conf import get_settings
from djobs.exceptions import EnqueueError
from djobs.flow.config import QueueFlow
from djobs.flow.limits import RATE_SLACK, Limits, choose, plan_claim, record_starts
from djobs.flow.partition import partition_key
from djobs.flow.state import effective
from djobs.models import Job, QueueState
from tests.testapp import flow_jobs

STRIPE = {"concurrency": 10, "global_limit": 4, "rate_limit": {"allowed": 100, "period": 60}}
EXPORTS = {"concurrency": 5, "global_limit": 1, "partition_by": ["account_id"]}


def _errors(queues: object) -> list[tuple[str, str]]:
    with override_settings(DJOBS={"QUEUES": queues}):
        return [(m.id or "", m.msg) for m in check_settings()]


def test_queue_values_may_be_a_concurrency_or_a_dict_of_flow_options() -> None:
    with override_settings(DJOBS={"QUEUES": {"default": 10, "stripe": STRIPE, "exports": EXPORTS}}):
        conf = get_settings()
        assert conf.QUEUES == {"default": 10, "stripe": 10, "exports": 5}
        assert conf.QUEUE_FLOW["stripe"] == QueueFlow(10, 4, 100, 60.0, ())
        assert conf.QUEUE_FLOW["exports"].partition_by == ("account_id",)
        assert not conf.QUEUE_FLOW["default"].limited


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"concurency": 5}, "unknown option 'concurency'; did you mean 'concurrency'?"),
        ({"global_limit": 0}, "['global_limit'] is 0; it must be an integer of at least 1"),
        (
            {"rate_limit": {"allowed": 10, "period": 0}},
            "['period'] is 0; it must be a number of seconds above 0",
        ),
        ({"rate_limit": {"alowed": 10, "period": 1}}, "unknown option 'alowed'; did you mean 'allowed'?"),
        ({"rate_limit": {"allowed": 0, "period": 1}}, "['allowed'] is 0"),
        ({"partition_by": "account_id", "global_limit": 1}, "use a non-empty list of argument names"),
        ({"partition_by": ["account_id"]}, "has partition_by but no global_limit or rate_limit"),
        (0, "use a concurrency (an integer of at least 1) or a dict"),
    ],
)
def test_each_bad_queue_option_is_an_error_naming_the_value_and_the_fix(value: object, text: str) -> None:
    errors = _errors({"q": value})
    assert any(check_id == "djobs.E002" and text in message for check_id, message in errors), errors


def test_partition_by_naming_an_argument_a_job_of_the_queue_lacks_is_an_error() -> None:
    with override_settings(DJOBS={"QUEUES": {"flow": {"global_limit": 1, "partition_by": ["acount_id"]}}}):
        errors = check_partition_by()
    assert [e.id for e in errors] == ["djobs.E023", "djobs.E023"]
    assert "did you mean 'account_id'?" in errors[0].msg
    with override_settings(DJOBS={"QUEUES": {"flow": {"global_limit": 1, "partition_by": ["seconds"]}}}):
        assert check_partition_by() == []


@pytest.mark.django_db
def test_enqueue_into_a_partitioned_queue_writes_the_bound_partition_key() -> None:
    with override_settings(DJOBS={"QUEUES": {"flow": {"global_limit": 1, "partition_by": ["account_id"]}}}):
        by_keyword = flow_jobs.runs_for.enqueue(0.1, account_id="acme")
        by_position = flow_jobs.runs_for.enqueue(0.1, "acme")
        by_default = flow_jobs.runs_for.enqueue(0.1)
        bulk = flow_jobs.runs_for.enqueue_many([(0.1, f"a{i}") for i in range(60)])
    keys = dict(Job.objects.values_list("id", "partition_key"))
    assert keys[by_keyword.id] == keys[by_position.id] == '["acme"]'
    assert keys[by_default.id] == '[""]'
    assert keys[bulk[59].id] == '["a59"]'
    assert flow_jobs.runs_for.enqueue(0.1, account_id="x").partition_key is None  # not partitioned here


@pytest.mark.django_db
def test_a_partitioned_job_without_the_argument_is_refused_and_nothing_is_written() -> None:
    with (
        override_settings(DJOBS={"QUEUES": {"flow": {"global_limit": 1, "partition_by": ["region"]}}}),
        pytest.raises(EnqueueError, match=r"partitions by 'region'.*pass region=\.\.\."),
    ):
        flow_jobs.runs_for.enqueue_many([(1,), (2,)])
    assert not Job.objects.exists()


def test_long_partition_values_are_hashed_to_64_characters() -> None:
    assert partition_key(["acme"]) == '["acme"]'
    assert len(partition_key(["x" * 100])) == 64


def test_a_global_limit_leaves_room_for_what_is_not_running() -> None:
    plan = plan_claim(Limits(global_limit=4), {"": 3}, {}, 100.0, 10)
    assert plan.total == 1


def test_a_rate_limit_counts_the_starts_in_the_window_and_says_when_it_opens() -> None:
    limits = Limits(rate_allowed=2, rate_period=10)
    plan = plan_claim(limits, {}, {"": [95.0, 99.0]}, 100.0, 5)
    assert plan.total == 0
    assert plan.retry_in == pytest.approx(95.0 + 10 + RATE_SLACK - 100.0)
    # Starts older than the window (plus slack) are forgotten.
    assert plan_claim(limits, {}, {"": [80.0, 99.0]}, 100.0, 5).total == 1
    assert record_starts({"": [80.0, 99.0]}, {"": 1}, 100.0, limits) == {"": [99.0, 100.0]}


def test_partitions_each_get_their_own_room_in_dispatch_order() -> None:
    plan = plan_claim(Limits(global_limit=1, partitioned=True), {"a": 1}, {}, 0.0, 10)
    assert plan.full == ["a"]
    ids, taken = choose(plan, [(1, "a"), (2, "b"), (3, "b"), (4, "c")])
    assert ids == [2, 4] and taken == {"b": 1, "c": 1}


def test_runtime_overrides_win_over_settings_and_zero_lifts_a_limit() -> None:
    flow = QueueFlow(10, 4, 100, 60.0, ())
    view = effective(flow, 3, {"paused": True, "concurrency": 7, "global_limit": 0})
    assert view.paused and view.concurrency == 7
    assert view.limits == Limits(global_limit=None, rate_allowed=100, rate_period=60.0)
    assert effective(flow, 3, None).concurrency == 3  # runjobs --queue sets the start


@pytest.mark.django_db
def test_the_queue_commands_pause_resume_scale_and_list() -> None:
    out = StringIO()
    with override_settings(DJOBS={"QUEUES": {"default": 2, "stripe": STRIPE}}):
        call_command("jobs", "pause", "stripe", stdout=out)
        assert QueueState.objects.get(name="stripe").paused
        call_command("jobs", "scale", "stripe", "20", stdout=out)
        call_command("jobs", "queues", stdout=out)
        assert "stripe\tpaused\tconcurrency=20 (scaled)\tglobal_limit=4 rate=100/60s" in out.getvalue()
        call_command("jobs", "resume", "stripe", stdout=out)
        call_command("jobs", "scale", "stripe", "--reset", stdout=out)
        state = QueueState.objects.get(name="stripe")
        assert (state.paused, state.concurrency) == (False, None)
        with pytest.raises(CommandError, match=r"'strip' .* did you mean 'stripe'"):
            call_command("jobs", "pause", "strip")
        with pytest.raises(CommandError, match="is 0; use an integer of at least 1"):
            call_command("jobs", "scale", "stripe", "0")


@pytest.mark.django_db
def test_limit_queue_overrides_and_lifts_limits() -> None:
    with override_settings(DJOBS={"QUEUES": {"stripe": STRIPE}}):
        operations.limit_queue("stripe", global_limit=2, rate_limit=(0, 0))
        (status,) = operations.queue_statuses()
        assert (status.global_limit, status.rate_allowed) == (2, None)
        with pytest.raises(ValueError, match="period for queue 'stripe' is -1"):
            operations.limit_queue("stripe", rate_limit=(5, -1))
