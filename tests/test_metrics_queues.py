"""The queue gauges view: Prometheus text from the database, refused to whoever may not read it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from djobs.models import Job
from tests.metrics_urls import TOKEN
from tests.testapp import jobs as testapp_jobs

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.metrics_urls")]


def sample(text: str, name: str, **labels: str) -> float:
    """Return the value of one sample in Prometheus' text format."""
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {wanted} in:\n{text}")


def test_anonymous_users_are_refused(client: Client) -> None:
    response = client.get("/djobs/metrics")
    assert response.status_code == 401


def test_a_user_without_the_view_job_permission_is_refused(client: Client) -> None:
    client.force_login(User.objects.create_user("ops"))
    assert client.get("/djobs/metrics").status_code == 403


def test_a_user_with_the_view_job_permission_reads_counts_and_lag(client: Client) -> None:
    user = User.objects.create_user("ops")
    user.user_permissions.add(Permission.objects.get(codename="view_job", content_type__app_label="djobs"))
    for n in range(3):
        testapp_jobs.add.enqueue(n, n)
    testapp_jobs.send_email.using(queue="emails", schedule_in=3600).enqueue("a@example.com")
    oldest = testapp_jobs.add.enqueue(9, 9)
    Job.objects.filter(pk=oldest.pk).update(scheduled_at=timezone.now() - timedelta(seconds=120))
    client.force_login(user)
    response = client.get("/djobs/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    assert sample(text, "djobs_jobs", queue="default", state="available") == 4
    assert sample(text, "djobs_jobs", queue="emails", state="scheduled") == 1
    assert sample(text, "djobs_queue_lag_seconds", queue="default") >= 120
    assert sample(text, "djobs_queue_lag_seconds", queue="emails") == 0
    assert sample(text, "djobs_workers", status="alive") == 0


def test_the_token_view_wants_the_bearer_token_not_a_login(client: Client) -> None:
    testapp_jobs.add.enqueue(1, 1)
    assert client.get("/scrape/metrics").status_code == 401
    assert client.get("/scrape/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    client.force_login(User.objects.create_superuser("root"))
    assert client.get("/scrape/metrics").status_code == 401
    response = client.get("/scrape/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert sample(response.content.decode(), "djobs_jobs", queue="default", state="available") == 1
