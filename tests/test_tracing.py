"""OpenTelemetry: a span per enqueue and per execution, one trace from the request to the job's run."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from djobs import enqueue_many, tracing
from djobs.models import Job
from djobs.testing import perform_job
from djobs.worker.runner import run_burst
from tests.testapp import async_jobs, jobs, worker_jobs


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans djobs and the test make, through a provider of the test's own (the global one is untouched)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure(provider)
    exporter.provider = provider  # type: ignore[attr-defined]
    try:
        yield exporter
    finally:
        tracing.configure(None)
        provider.shutdown()


def request_span(exporter: InMemorySpanExporter, name: str = "GET /signup") -> Any:
    provider: TracerProvider = exporter.provider  # type: ignore[attr-defined]
    return provider.get_tracer("tests").start_as_current_span(name, kind=SpanKind.SERVER)


def named(exporter: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name.startswith(prefix)]


def traceparent_of(span: ReadableSpan) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


# -- off ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_tracer_provider_nothing_is_traced_and_meta_is_unchanged() -> None:
    tracing.configure(None)
    assert tracing.tracer() is None  # the API's proxy provider: nobody configured one
    job = jobs.add.enqueue(1, 2)
    assert job.meta == {}


@pytest.mark.django_db
def test_without_opentelemetry_installed_enqueue_and_runs_work_untraced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # what ImportError looks like
    tracing._api.cache_clear()
    try:
        assert tracing.tracer() is None
        job = jobs.add.enqueue(1, 2)
        assert job.meta == {}
        assert perform_job(jobs.add, [1, 2]).value == 3
    finally:
        tracing._api.cache_clear()


# -- enqueue -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_enqueue_makes_a_producer_span_child_of_the_request_and_the_job_carries_its_context(
    spans: InMemorySpanExporter,
) -> None:
    with request_span(spans):
        job = jobs.send_email.enqueue("ada@example.com")
    [enqueue] = named(spans, "djobs enqueue")
    [request] = named(spans, "GET /signup")
    assert enqueue.name == "djobs enqueue tests.testapp.jobs.send_email"
    assert enqueue.kind == SpanKind.PRODUCER
    assert enqueue.parent is not None and enqueue.parent.span_id == request.get_span_context().span_id
    assert dict(enqueue.attributes or {}) == {
        "messaging.system": "djobs",
        "messaging.operation.type": "send",
        "messaging.operation.name": "enqueue",
        "messaging.destination.name": "emails",
        "djobs.job.path": "tests.testapp.jobs.send_email",
        "messaging.message.id": str(job.pk),
        "djobs.job.id": job.pk,
    }
    job.refresh_from_db()
    assert job.meta["traceparent"] == traceparent_of(enqueue)


@pytest.mark.django_db
def test_bulk_enqueue_makes_one_span_and_every_job_carries_its_context(spans: InMemorySpanExporter) -> None:
    created = jobs.add.enqueue_many([(1, 2), (3, 4), (5, 6)])
    mixed = enqueue_many([jobs.add.new(1, 1), jobs.send_email.new("x@example.com")])
    first, second = named(spans, "djobs enqueue")
    assert first.name == "djobs enqueue tests.testapp.jobs.add"
    assert (first.attributes or {})["messaging.batch.message_count"] == 3
    assert list((first.attributes or {})["djobs.job.ids"]) == [job.pk for job in created]
    assert second.name == "djobs enqueue"
    assert (second.attributes or {})["messaging.destination.name"] == "default,emails"
    stored = Job.objects.filter(pk__in=[job.pk for job in created]).values_list("meta", flat=True)
    assert {meta["traceparent"] for meta in stored} == {traceparent_of(first)}
    stored = Job.objects.filter(pk__in=[job.pk for job in mixed]).values_list("meta", flat=True)
    assert {meta["traceparent"] for meta in stored} == {traceparent_of(second)}


@pytest.mark.django_db(transaction=True)
def test_async_enqueue_is_traced_under_the_request_span(spans: InMemorySpanExporter) -> None:
    with request_span(spans):
        job = async_to_sync(async_jobs.add.aenqueue)(1, 2)
    [enqueue] = named(spans, "djobs enqueue")
    [request] = named(spans, "GET /signup")
    assert enqueue.parent is not None and enqueue.parent.span_id == request.context.span_id
    job.refresh_from_db()
    assert job.meta["traceparent"] == traceparent_of(enqueue)


# -- execution ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_worker_run_is_a_consumer_span_child_of_the_enqueue_in_the_request_trace(
    spans: InMemorySpanExporter,
) -> None:
    with request_span(spans):
        job = jobs.add.enqueue(2, 3)
    run_burst({"default": 2})
    [enqueue] = named(spans, "djobs enqueue")
    [run] = named(spans, "djobs run")
    [request] = named(spans, "GET /signup")
    assert run.name == "djobs run tests.testapp.jobs.add"
    assert run.kind == SpanKind.CONSUMER
    assert run.context.trace_id == request.context.trace_id
    assert run.parent is not None and run.parent.span_id == enqueue.context.span_id
    attributes = dict(run.attributes or {})
    assert attributes == {
        "messaging.system": "djobs",
        "messaging.operation.type": "process",
        "messaging.operation.name": "run",
        "messaging.destination.name": "default",
        "messaging.message.id": str(job.pk),
        "djobs.job.id": job.pk,
        "djobs.job.path": "tests.testapp.jobs.add",
        "djobs.job.attempt": 1,
        "djobs.job.outcome": "completed",
        "djobs.job.state": "completed",
    }
    assert run.status.status_code == StatusCode.UNSET


@pytest.mark.django_db(transaction=True)
def test_async_job_run_is_traced_on_the_queue_loop(spans: InMemorySpanExporter) -> None:
    with request_span(spans):
        async_jobs.add.enqueue(2, 3)
    run_burst({"aio": 2})
    [enqueue] = named(spans, "djobs enqueue")
    [run] = named(spans, "djobs run")
    assert run.name == "djobs run tests.testapp.async_jobs.add"
    assert run.parent is not None and run.parent.span_id == enqueue.context.span_id
    assert (run.attributes or {})["djobs.job.outcome"] == "completed"


@pytest.mark.django_db(transaction=True)
def test_a_job_without_trace_context_runs_in_a_root_span(spans: InMemorySpanExporter) -> None:
    tracing.configure(None)
    job = jobs.add.enqueue(1, 1)  # enqueued untraced: no traceparent
    tracing.configure(spans.provider)  # type: ignore[attr-defined]
    run_burst({"default": 1})
    assert "traceparent" not in job.meta
    [run] = named(spans, "djobs run")
    assert run.parent is None


@pytest.mark.django_db
def test_failing_job_performed_in_a_test_records_its_exception_and_an_error_status(
    spans: InMemorySpanExporter,
) -> None:
    result = perform_job(worker_jobs.always_fails, ["card declined"], max_attempts=3)
    assert result.transition.outcome == "retryable"
    [run] = named(spans, "djobs run")
    attributes = dict(run.attributes or {})
    assert (attributes["djobs.job.outcome"], attributes["djobs.job.state"]) == ("retryable", "retryable")
    assert "djobs.job.id" not in attributes  # perform_job's row is never saved
    assert run.status.status_code == StatusCode.ERROR
    assert run.status.description == "RuntimeError: card declined"
    [event] = run.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.type"] == "RuntimeError"


@pytest.mark.django_db
def test_deliberate_outcomes_are_not_errors(spans: InMemorySpanExporter) -> None:
    perform_job(worker_jobs.raises_snooze, [60])
    [run] = named(spans, "djobs run")
    assert (run.attributes or {})["djobs.job.outcome"] == "snoozed"
    assert run.status.status_code == StatusCode.UNSET
