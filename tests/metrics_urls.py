"""URLs for the metrics tests: djobs.urls as a project mounts it, and the view with a token."""

from django.urls import include, path

from djobs.metrics.queues import QueueMetricsView

TOKEN = "s3cret-scrape-token"

urlpatterns = [
    path("djobs/", include("djobs.urls")),
    path("scrape/metrics", QueueMetricsView.as_view(token=TOKEN)),
]
