"""The job pages of the admin: list, filters, search, detail, operations and permissions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from djobs.models import Job
from tests.factories import BatchFactory, JobFactory, WorkerProcessFactory

pytestmark = pytest.mark.django_db

S = Job.State
EVIL = "<script>alert('x')</script>"
CHANGELIST = "admin:djobs_job_changelist"


def staff(*codenames: str) -> User:
    user = User.objects.create_user("staff-" + "-".join(codenames or ("none",)), password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="djobs", codename__in=codenames)
    )
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client_(admin_user: User) -> Client:
    return client_for(admin_user)


def action(client: Client, name: str, *jobs: Job, **extra: str) -> object:
    data = {"action": name, "_selected_action": [str(j.pk) for j in jobs], **extra}
    return client.post(reverse(CHANGELIST), data, follow=True)


def test_job_list_shows_state_path_queue_attempts_and_duration(admin_client_: Client) -> None:
    start = timezone.now() - timedelta(seconds=3)
    JobFactory(
        state=S.COMPLETED, path="tests.testapp.jobs.send_email", queue="emails", attempt=1, max_attempts=5,
        attempted_at=start, finished_at=start + timedelta(seconds=2),
    )  # fmt: skip
    page = admin_client_.get(reverse(CHANGELIST)).content.decode()
    assert 'class="djobs-badge djobs-state-completed"' in page
    assert "tests.testapp.jobs.send_email" in page
    assert ">emails<" in page
    assert "1/5" in page
    assert "2.0 s" in page


def test_job_list_filters_by_state_queue_path_and_batch(admin_client_: Client) -> None:
    batch = BatchFactory()
    wanted = JobFactory(
        state=S.DISCARDED,
        queue="emails",
        path="tests.testapp.jobs.send_email",
        meta={"batch_id": str(batch.pk)},
    )
    JobFactory(state=S.DISCARDED, queue="emails", path="tests.testapp.jobs.send_email")
    JobFactory(
        state=S.AVAILABLE,
        queue="emails",
        path="tests.testapp.jobs.send_email",
        meta={"batch_id": str(batch.pk)},
    )
    JobFactory(state=S.DISCARDED, queue="default", meta={"batch_id": str(batch.pk)})
    query = f"?state__exact=discarded&queue=emails&path=tests.testapp.jobs.send_email&batch={batch.pk}"
    response = admin_client_.get(reverse(CHANGELIST) + query)
    assert [job.pk for job in response.context["cl"].result_list] == [wanted.pk]


def test_job_list_searches_by_id_path_and_argument_text(admin_client_: Client) -> None:
    by_args = JobFactory(path="tests.testapp.jobs.echo", args=["needle-in-args"])
    by_path = JobFactory(path="tests.testapp.jobs.send_email", args=["x"])
    JobFactory(path="tests.testapp.jobs.add", args=[1, 2])

    def search(term: str) -> list[int]:
        response = admin_client_.get(reverse(CHANGELIST), {"q": term})
        return sorted(job.pk for job in response.context["cl"].result_list)

    assert search(str(by_path.pk)) == [by_path.pk]
    assert search("send_EMAIL") == [by_path.pk]
    assert search("needle-in") == [by_args.pk]


def test_job_list_does_not_count_the_whole_table(admin_client_: Client) -> None:
    JobFactory.create_batch(3)
    response = admin_client_.get(reverse(CHANGELIST))
    assert response.context["cl"].full_result_count is None
    assert response.context["cl"].result_count == 3


def test_job_detail_shows_arguments_errors_batch_and_worker_escaped(admin_client_: Client) -> None:
    batch = BatchFactory(description="weekly " + EVIL)
    worker = WorkerProcessFactory(hostname="host-1")
    job = JobFactory(
        state=S.RETRYABLE, attempt=1, args=[EVIL], kwargs={"html": EVIL}, meta={"batch_id": str(batch.pk)},
        worker_id=worker.pk, result={"note": EVIL},
        errors=[{"attempt": 1, "at": "2026-01-01T00:00:00+00:00", "error": f"ValueError: {EVIL}",
                 "traceback": f"Traceback (most recent call last):\n  boom {EVIL}\nValueError: {EVIL}"}],
    )  # fmt: skip
    page = admin_client_.get(reverse("admin:djobs_job_change", args=[job.pk])).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Traceback (most recent call last)" in page
    assert reverse("admin:djobs_batch_change", args=[batch.pk]) in page
    assert worker.pk in page and "host-1" in page
    assert "&quot;html&quot;: &quot;&lt;script&gt;" in page  # pretty JSON, escaped


def test_job_detail_offers_only_the_operations_the_state_and_permissions_allow(admin_client_: Client) -> None:
    discarded = JobFactory(state=S.DISCARDED, finished_at=timezone.now())
    page = admin_client_.get(reverse("admin:djobs_job_change", args=[discarded.pk])).content.decode()
    assert 'id="djobs-op-retry"' in page and 'id="djobs-op-delete"' in page
    assert 'id="djobs-op-cancel"' not in page and 'id="djobs-op-run_now"' not in page
    viewer = client_for(staff("view_job"))
    page = viewer.get(reverse("admin:djobs_job_change", args=[discarded.pk])).content.decode()
    assert "djobs-op-" not in page


@pytest.mark.parametrize(
    ("name", "state", "after"),
    [
        ("retry_jobs", S.DISCARDED, S.AVAILABLE),
        ("cancel_jobs", S.AVAILABLE, S.CANCELLED),
        ("run_now_jobs", S.SCHEDULED, S.AVAILABLE),
    ],
)
def test_change_actions_need_change_permission_and_report_the_count(
    name: str, state: str, after: str
) -> None:
    jobs = JobFactory.create_batch(2, state=state, scheduled_at=timezone.now() + timedelta(hours=1))
    viewer = client_for(staff("view_job"))
    response = action(viewer, name, *jobs)
    assert {Job.objects.get(pk=j.pk).state for j in jobs} == {state}
    assert response.context["action_form"] is None  # a viewer is offered no action at all
    changer = client_for(staff("view_job", "change_job"))
    response = action(changer, name, *jobs)
    assert {Job.objects.get(pk=j.pk).state for j in jobs} == {after}
    assert [str(m) for m in response.context["messages"]][-1].endswith(" 2 jobs.")


def test_delete_action_needs_delete_permission_and_asks_first() -> None:
    jobs = JobFactory.create_batch(2, state=S.COMPLETED, finished_at=timezone.now())
    changer = client_for(staff("view_job", "change_job"))
    action(changer, "delete_jobs", *jobs, confirm="yes")
    assert Job.objects.count() == 2
    deleter = client_for(staff("view_job", "delete_job"))
    response = action(deleter, "delete_jobs", *jobs)
    assert "Delete 2 jobs?" in response.content.decode()
    assert Job.objects.count() == 2
    response = action(deleter, "delete_jobs", *jobs, confirm="yes")
    assert Job.objects.count() == 0
    assert [str(m) for m in response.context["messages"]][-1] == "Deleted 2 jobs."


def test_django_delete_selected_is_replaced(admin_client_: Client) -> None:
    response = admin_client_.get(reverse(CHANGELIST))
    choices = [value for value, _ in response.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in choices
    assert {"retry_jobs", "cancel_jobs", "run_now_jobs", "delete_jobs"} <= set(choices)


def test_detail_operations_are_post_only_and_need_permission() -> None:
    job = JobFactory(state=S.DISCARDED, finished_at=timezone.now())
    url = reverse("admin:djobs_job_operate", args=[job.pk])
    admin_like = client_for(staff("view_job", "change_job"))
    assert admin_like.get(url, {"operation": "retry"}).status_code == 405
    viewer = client_for(staff("view_job"))
    assert viewer.post(url, {"operation": "retry"}).status_code == 403
    assert Job.objects.get(pk=job.pk).state == S.DISCARDED
    response = admin_like.post(url, {"operation": "retry"}, follow=True)
    assert Job.objects.get(pk=job.pk).state == S.AVAILABLE
    assert "Retry: job" in response.content.decode()
    assert admin_like.post(url, {"operation": "delete"}).status_code == 403


def test_detail_operations_need_the_csrf_token(admin_user: User) -> None:
    job = JobFactory(state=S.DISCARDED, finished_at=timezone.now())
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(reverse("admin:djobs_job_operate", args=[job.pk]), {"operation": "retry"})
    assert response.status_code == 403
    assert Job.objects.get(pk=job.pk).state == S.DISCARDED


def test_non_staff_and_anonymous_users_see_nothing() -> None:
    job = JobFactory()
    user = User.objects.create_user("plain", password="pw")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="djobs"))
    for client in (Client(), client_for(user)):
        for url in (reverse(CHANGELIST), reverse("admin:djobs_job_change", args=[job.pk])):
            response = client.get(url)
            assert response.status_code == 302
            assert "/login/" in response["Location"]


def test_staff_without_job_permissions_are_refused() -> None:
    job = JobFactory()
    client = client_for(staff())
    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert client.get(reverse("admin:djobs_job_change", args=[job.pk])).status_code == 403


def test_jobs_cannot_be_added_or_edited_in_the_admin(admin_client_: Client) -> None:
    job = JobFactory()
    assert admin_client_.get(reverse("admin:djobs_job_add")).status_code == 403
    response = admin_client_.post(reverse("admin:djobs_job_change", args=[job.pk]), {"state": "completed"})
    assert response.status_code == 403
    assert Job.objects.get(pk=job.pk).state == S.AVAILABLE


@pytest.mark.postgres
def test_a_big_list_shows_the_estimated_count_as_about(admin_client_: Client, monkeypatch: Any) -> None:
    from django.db import connection

    from djobs.admin.paginator import EstimatedCountPaginator

    JobFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE djobs_job")
    monkeypatch.setattr(EstimatedCountPaginator, "exact_up_to", 1)
    response = admin_client_.get(reverse(CHANGELIST))
    assert response.context["cl"].paginator.estimated
    assert "About 3 jobs: the database's estimate" in response.content.decode()


def test_argument_search_reads_only_the_latest_jobs(admin_client_: Client, monkeypatch: Any) -> None:
    import djobs.admin.jobs

    old = JobFactory(args=["needle-old"])
    JobFactory.create_batch(2, args=["hay"])
    monkeypatch.setattr(djobs.admin.jobs, "ARGUMENT_SEARCH_WINDOW", 2)
    response = admin_client_.get(reverse(CHANGELIST), {"q": "needle-old"})
    assert list(response.context["cl"].result_list) == []
    response = admin_client_.get(reverse(CHANGELIST), {"q": str(old.pk)})
    assert [j.pk for j in response.context["cl"].result_list] == [old.pk]


def test_retry_across_a_filtered_list_changes_every_matching_job_and_no_other(admin_client_: Client) -> None:
    failed = JobFactory.create_batch(3, state=S.DISCARDED, queue="emails", finished_at=timezone.now())
    other = JobFactory(state=S.DISCARDED, queue="default", finished_at=timezone.now())
    response = admin_client_.post(
        reverse(CHANGELIST) + "?queue=emails",
        {"action": "retry_jobs", "select_across": "1", "index": "0", "_selected_action": [failed[0].pk]},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]][-1] == "Retried 3 jobs."
    assert {Job.objects.get(pk=j.pk).state for j in failed} == {S.AVAILABLE}
    assert Job.objects.get(pk=other.pk).state == S.DISCARDED


@pytest.mark.parametrize(
    ("operation", "state", "after", "permission"),
    [
        ("retry", S.CANCELLED, S.AVAILABLE, "change_job"),
        ("cancel", S.RETRYABLE, S.CANCELLED, "change_job"),
        ("run_now", S.SCHEDULED, S.AVAILABLE, "change_job"),
        ("delete", S.COMPLETED, None, "delete_job"),
    ],
)
def test_each_detail_operation_needs_its_permission(
    operation: str, state: str, after: str | None, permission: str
) -> None:
    job = JobFactory(state=state, scheduled_at=timezone.now() + timedelta(hours=1))
    url = reverse("admin:djobs_job_operate", args=[job.pk])
    other = "delete_job" if permission == "change_job" else "change_job"
    assert client_for(staff("view_job", other)).post(url, {"operation": operation}).status_code == 403
    assert Job.objects.get(pk=job.pk).state == state
    response = client_for(staff("view_job", permission)).post(url, {"operation": operation})
    assert response.status_code == 302
    assert Job.objects.filter(pk=job.pk).values_list("state", flat=True).first() == after


def test_djangos_delete_page_refuses_a_running_job(admin_client_: Client) -> None:
    running = JobFactory(state=S.EXECUTING, attempt=1, worker_id="w1")
    done = JobFactory(state=S.COMPLETED, finished_at=timezone.now())
    assert (
        admin_client_.post(reverse("admin:djobs_job_delete", args=[running.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert Job.objects.filter(pk=running.pk).exists()
    admin_client_.post(reverse("admin:djobs_job_delete", args=[done.pk]), {"post": "yes"})
    assert not Job.objects.filter(pk=done.pk).exists()
