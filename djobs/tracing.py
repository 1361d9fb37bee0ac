"""OpenTelemetry spans for enqueues and executions, when the project uses OpenTelemetry.

Nothing is imported until the first enqueue or execution asks, and then only
``opentelemetry-api`` (the ``djobs[otel]`` extra). Without it, or while no
tracer provider is configured (``trace.set_tracer_provider``), every function
here returns at once and no job's ``meta`` changes.

With a provider:

- ``enqueue_span(rows)`` wraps one insert (one job, or a bulk call): a
  PRODUCER span ``djobs enqueue <path>``, and each row's ``meta`` carries the
  span's context as W3C ``traceparent`` (and ``tracestate``) keys.
- ``run_span(job)`` wraps one execution: a CONSUMER span ``djobs run <path>``
  whose parent is the context in the job's ``meta``, so a request, the
  enqueue it made and every attempt of the job share one trace. Spans the job
  opens (database, HTTP) are its children.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .enqueue import PendingJob
    from .models import Job
    from .transitions import Transition
    from .worker.executor import Execution

SYSTEM = "djobs"
#: Keys of ``Job.meta`` holding the W3C trace context of the enqueue.
CONTEXT_KEYS = ("traceparent", "tracestate")
# Outcomes that end the span with an error status (djobs.transitions' names).
ERROR_OUTCOMES = frozenset({"retryable", "exhausted", "discarded"})

_tracer: Any = None
_provider: Any = None


@functools.cache
def _api() -> ModuleType | None:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


class _Otel:
    """The OpenTelemetry names the hot path uses, imported once (only once tracing is on)."""

    def __init__(self) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.attach = context.attach
        self.detach = context.detach
        self.set_span_in_context = trace.set_span_in_context
        self.producer = trace.SpanKind.PRODUCER
        self.consumer = trace.SpanKind.CONSUMER
        self.status = trace.Status
        self.error = trace.StatusCode.ERROR
        # The W3C format whatever the project's global propagator: the worker reads this one.
        self.propagator = TraceContextTextMapPropagator()


@functools.cache
def _otel() -> _Otel:
    return _Otel()


def configure(provider: Any = None) -> None:
    """Use ``provider`` for djobs' spans instead of the global one (None: back to the global).

    For tests and for projects that keep a provider of their own.
    """
    global _tracer, _provider
    _provider = provider
    _tracer = None


def tracer() -> Any:
    """Return djobs' tracer, or None when OpenTelemetry is missing or no provider is configured."""
    global _tracer
    if _tracer is not None:
        return _tracer
    trace = _api()
    if trace is None:
        return None
    provider = _provider if _provider is not None else trace.get_tracer_provider()
    # The API's defaults until the project configures one: spans would go nowhere.
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    from . import __version__

    _tracer = provider.get_tracer("djobs", __version__)
    return _tracer


class _Null:
    """The context manager every span helper returns while tracing is off: does nothing."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NULL = _Null()


class _Span:
    """Makes a started span current on enter (returning it); on exit ends it, recording what escaped.

    Cheaper than ``start_as_current_span``'s generator: this runs once per job.
    """

    __slots__ = ("_token", "span")

    def __init__(self, span: Any) -> None:
        self.span = span
        self._token: Any = None

    def __enter__(self) -> Any:
        otel = _otel()
        self._token = otel.attach(otel.set_span_in_context(self.span))
        return self.span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            _set_error(self.span, exc)
        _otel().detach(self._token)
        self.span.end()


def _set_error(span: Any, exc: BaseException) -> None:
    otel = _otel()
    span.record_exception(exc)
    span.set_status(otel.status(otel.error, f"{type(exc).__name__}: {exc}"))


def enqueue_span(rows: Sequence[PendingJob]) -> Any:
    """Return a context manager spanning the insert of ``rows``; it adds their trace context to meta.

    Its value is the span (None while tracing is off): pass it to ``enqueued``.
    """
    active = tracer()
    if active is None or not rows:
        return _NULL
    paths = sorted({row.path for row in rows})
    queues = sorted({row.queue for row in rows})
    name = f"{SYSTEM} enqueue {paths[0]}" if len(paths) == 1 else f"{SYSTEM} enqueue"
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation.name": "enqueue",
        "messaging.destination.name": ",".join(queues),
        "djobs.job.path": ",".join(paths),
    }
    if len(rows) > 1:
        attributes["messaging.batch.message_count"] = len(rows)
    span = active.start_span(
        name,
        kind=_otel().producer,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    )
    return _Enqueue(span, rows)


class _Enqueue(_Span):
    __slots__ = ("_rows",)

    def __init__(self, span: Any, rows: Sequence[PendingJob]) -> None:
        super().__init__(span)
        self._rows = rows

    def __enter__(self) -> Any:
        span = super().__enter__()
        carrier: dict[str, str] = {}
        _otel().propagator.inject(carrier)
        for row in self._rows:
            row.meta = {**row.meta, **carrier}
        return span


def enqueued(span: Any, jobs: Sequence[Job]) -> None:
    """Name the jobs an enqueue span inserted (their ids); nothing while tracing is off."""
    if span is None or not jobs:
        return
    if len(jobs) == 1:
        span.set_attribute("messaging.message.id", str(jobs[0].pk))
        span.set_attribute("djobs.job.id", int(jobs[0].pk))
    else:
        span.set_attribute("djobs.job.ids", [int(job.pk) for job in jobs])


def run_span(job: Job) -> Any:
    """Return a context manager spanning one execution of ``job``; its value is the span or None."""
    active = tracer()
    if active is None:
        return _NULL
    otel = _otel()
    meta = job.meta or {}
    parent = None
    if "traceparent" in meta:
        carrier = {key: str(meta[key]) for key in CONTEXT_KEYS if key in meta}
        parent = otel.propagator.extract(carrier)
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "run",
        "messaging.destination.name": job.queue,
        "djobs.job.path": job.path,
        "djobs.job.attempt": int(job.attempt),
    }
    if job.pk is not None:  # perform_job's rows are never saved
        attributes["messaging.message.id"] = str(job.pk)
        attributes["djobs.job.id"] = int(job.pk)
    span = active.start_span(
        f"{SYSTEM} run {job.path}",
        context=parent,
        kind=otel.consumer,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    )
    return _Span(span)


def ran(span: Any, execution: Execution, transition: Transition) -> None:
    """Add an execution's outcome to its span: the outcome, the exception, an error status."""
    if span is None:
        return
    span.set_attribute("djobs.job.outcome", transition.outcome)
    span.set_attribute("djobs.job.state", transition.state)
    exc = execution.exception
    if exc is not None and execution.failed:
        if transition.outcome in ERROR_OUTCOMES:
            _set_error(span, exc)
        else:  # cancelled by an operator while it ran: recorded, not an error of the job
            span.record_exception(exc)


__all__ = ["CONTEXT_KEYS", "configure", "enqueue_span", "enqueued", "ran", "run_span", "tracer"]
