"""URLs a project may mount: ``path("djobs/", include("djobs.urls"))``.

``metrics`` serves the queue gauges to a logged-in user with ``djobs.view_job``;
to scrape with a token instead, mount :class:`djobs.metrics.queues.QueueMetricsView`
yourself with ``as_view(token=...)``.
"""

from django.urls import path

from .metrics.queues import QueueMetricsView

app_name = "djobs"
urlpatterns = [path("metrics", QueueMetricsView.as_view(), name="metrics")]
