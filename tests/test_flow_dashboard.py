"""The dashboard's queue panel: state and limits per queue; pause and resume (permissioned, POST, CSRF)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.urls import reverse

from djobs.models import QueueState
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

QUEUES = {
    "default": 2,
    "stripe": {"concurrency": 10, "global_limit": 2, "rate_limit": {"allowed": 100, "period": 60}},
}


@pytest.fixture(autouse=True)
def _queues():  # type: ignore[no-untyped-def]
    with override_settings(DJOBS={"QUEUES": QUEUES}):
        yield


def staff(*perms: str, csrf: bool = True) -> Client:
    user = User.objects.create_user("staff", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def test_the_panel_shows_each_queues_limits_and_a_limited_queue_as_limited(admin_user: User) -> None:
    JobFactory.create_batch(2, queue="stripe", state="executing", worker_id="w")
    JobFactory(queue="stripe")
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("admin:djobs_dashboard")).content.decode()
    assert "at most 2 executing, 100 starts per 60 s" in page
    assert 'title="available jobs wait for the global limit">limited</span>' in page
    assert page.count(">Pause</button>") == 2


def test_pause_and_resume_are_posts_with_csrf_that_change_the_queue_state(admin_user: User) -> None:
    client = Client()
    client.force_login(admin_user)
    pause = reverse("admin:djobs_queue_action", args=["pause"])
    response = client.post(pause, {"queue": "stripe"})
    assert response.status_code == 302 and response["Location"] == reverse("admin:djobs_dashboard")
    assert QueueState.objects.get(name="stripe").paused
    page = client.get(reverse("admin:djobs_dashboard")).content.decode()
    assert ">Resume</button>" in page and "paused</span>" in page
    client.post(reverse("admin:djobs_queue_action", args=["resume"]), {"queue": "stripe"})
    assert not QueueState.objects.get(name="stripe").paused
    assert client.get(pause).status_code == 405


def test_an_unknown_queue_is_reported_and_changes_nothing(admin_user: User) -> None:
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:djobs_queue_action", args=["pause"]), {"queue": "strpe"}, follow=True
    )
    assert "did you mean &#x27;stripe&#x27;?" in response.content.decode()
    assert not QueueState.objects.exists()


def test_without_change_permission_there_is_no_button_and_a_post_is_refused() -> None:
    client = staff("view_job", csrf=False)  # past CSRF: the permission alone refuses
    page = client.get(reverse("admin:djobs_dashboard")).content.decode()
    assert "stripe" in page and ">Pause</button>" not in page
    response = client.post(reverse("admin:djobs_queue_action", args=["pause"]), {"queue": "stripe"})
    assert response.status_code == 403
    assert not QueueState.objects.exists()


def test_a_post_without_the_csrf_token_is_refused() -> None:
    client = staff("change_job", "view_job")
    response = client.post(reverse("admin:djobs_queue_action", args=["pause"]), {"queue": "stripe"})
    assert response.status_code == 403
    assert not QueueState.objects.exists()
