"""Prometheus metrics: the worker's own figures (``runjobs --metrics-port``) and the queues'
figures read from the database (:class:`djobs.metrics.queues.QueueMetricsView`).

Both need the optional ``prometheus_client`` library: ``pip install "django-djobs[prometheus]"``.
Nothing here imports it until metrics are asked for.
"""

from __future__ import annotations

from types import ModuleType

from django.core.exceptions import ImproperlyConfigured

INSTALL_HINT = 'djobs metrics need the prometheus_client library: pip install "django-djobs[prometheus]"'


def prometheus() -> ModuleType:
    """Return the ``prometheus_client`` module, or say how to install it."""
    try:
        import prometheus_client
    except ImportError as exc:
        raise ImproperlyConfigured(INSTALL_HINT) from exc
    return prometheus_client


__all__ = ["INSTALL_HINT", "prometheus"]
