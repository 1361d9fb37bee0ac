"""Batches, periodic schedules and worker processes in the admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from djobs.admin.batches import batch_counts, callback_status
from djobs.models import Batch, Job, PeriodicSchedule
from tests.factories import BatchFactory, JobFactory, PeriodicScheduleFactory, WorkerProcessFactory

pytestmark = pytest.mark.django_db

S = Job.State


@pytest.fixture
def client_(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def staff_client(*codenames: str) -> Client:
    user = User.objects.create_user(f"u{User.objects.count()}", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_a_running_batch_counts_its_unfinished_jobs_and_the_rest_as_finished() -> None:
    batch = BatchFactory(state=Batch.State.RUNNING, size=5)
    JobFactory.create_batch(2, state=S.AVAILABLE, meta={"batch_id": str(batch.pk)})
    JobFactory(state=S.EXECUTING, meta={"batch_id": str(batch.pk)})
    JobFactory(state=S.AVAILABLE)  # another batch's or none
    assert batch_counts(batch) == {S.AVAILABLE: 2, S.EXECUTING: 1, "finished": 2}


def test_a_finished_batch_uses_the_counts_kept_on_its_row() -> None:
    batch = BatchFactory(state=Batch.State.FINISHED, size=3, counts={"completed": 2, "discarded": 1})
    assert batch_counts(batch) == {"completed": 2, "discarded": 1}


def test_callbacks_say_whether_they_fired() -> None:
    callbacks = {"on_complete": {"path": "tests.testapp.jobs.add"}, "on_discard": "tests.testapp.jobs.echo"}
    running = BatchFactory(state=Batch.State.RUNNING, callbacks=callbacks, discarded_at=timezone.now())
    assert callback_status(running) == [
        ("on_complete", "tests.testapp.jobs.add", False),
        ("on_discard", "tests.testapp.jobs.echo", True),
    ]


def test_batch_pages_show_progress_callbacks_and_a_link_to_the_jobs(client_: Client) -> None:
    batch = BatchFactory(
        description="<b>blast</b>", state=Batch.State.RUNNING, size=2,
        callbacks={"on_complete": {"path": "tests.testapp.jobs.add"}},
    )  # fmt: skip
    JobFactory(state=S.AVAILABLE, meta={"batch_id": str(batch.pk)})
    listing = client_.get(reverse("admin:djobs_batch_changelist")).content.decode()
    detail = client_.get(reverse("admin:djobs_batch_change", args=[batch.pk])).content.decode()
    for page in (listing, detail):
        assert 'class="djobs-progress"' in page
        assert f"?batch={batch.pk}" in page
        assert "on_complete" in page
        assert "<b>blast</b>" not in page
    jobs = client_.get(reverse("admin:djobs_job_changelist"), {"batch": str(batch.pk)})
    assert len(jobs.context["cl"].result_list) == 1


def test_schedule_pages_show_cron_in_words_and_next_runs(client_: Client) -> None:
    schedule = PeriodicScheduleFactory(cron="0 9 * * *", timezone="Europe/Paris")
    listing = client_.get(reverse("admin:djobs_periodicschedule_changelist")).content.decode()
    assert "09:00" in listing
    detail = client_.get(reverse("admin:djobs_periodicschedule_change", args=[schedule.pk])).content.decode()
    # The next runs in the schedule's own zone, each with UTC on hover.
    assert len(re.findall(r'title="[0-9-]+ 0[78]:00 UTC">[0-9-]+ 09:00 CES?T<', detail)) == 5


def test_schedule_form_rejects_a_bad_cron_with_a_message(client_: Client) -> None:
    response = client_.post(
        reverse("admin:djobs_periodicschedule_add"),
        {"name": "bad", "cron": "61 * * * *", "timezone": "UTC", "path": "tests.testapp.jobs.add",
         "args": "[1, 2]", "kwargs": "{}", "options": "{}", "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "61 * * * *" in response.content.decode()
    assert not PeriodicSchedule.objects.filter(name="bad").exists()


def test_enable_and_disable_actions_need_change_permission() -> None:
    schedule = PeriodicScheduleFactory(enabled=True, next_run_at=timezone.now() + timedelta(minutes=5))
    url = reverse("admin:djobs_periodicschedule_changelist")
    data = {"action": "disable", "_selected_action": [schedule.pk]}
    staff_client("view_periodicschedule").post(url, data)
    assert PeriodicSchedule.objects.get(pk=schedule.pk).enabled
    staff_client("view_periodicschedule", "change_periodicschedule").post(url, data)
    schedule.refresh_from_db()
    assert (schedule.enabled, schedule.next_run_at) == (False, None)
    staff_client("view_periodicschedule", "change_periodicschedule").post(url, {**data, "action": "enable"})
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.next_run_at is not None and schedule.next_run_at > timezone.now()


def test_enqueue_now_inserts_the_schedules_job(client_: Client) -> None:
    schedule = PeriodicScheduleFactory(args=[2, 3], options={"queue": "emails"})
    response = client_.post(
        reverse("admin:djobs_periodicschedule_changelist"),
        {"action": "enqueue_now", "_selected_action": [schedule.pk]},
        follow=True,
    )
    job = Job.objects.get()
    assert (job.path, job.args, job.queue) == ("tests.testapp.jobs.add", [2, 3], "emails")
    assert "Enqueued 1 job." in [str(m) for m in response.context["messages"]]


def test_worker_processes_are_read_only(client_: Client) -> None:
    worker = WorkerProcessFactory(queues={"default": 10})
    page = client_.get(reverse("admin:djobs_workerprocess_changelist")).content.decode()
    assert worker.pk in page and "default=10" in page
    assert client_.get(reverse("admin:djobs_workerprocess_add")).status_code == 403


def test_batches_can_be_searched_by_description_or_id(client_: Client) -> None:
    weekly = BatchFactory(description="weekly update")
    BatchFactory(description="other")
    url = reverse("admin:djobs_batch_changelist")
    for term in ("weekly", str(weekly.pk)):
        response = client_.get(url, {"q": term})
        assert [b.pk for b in response.context["cl"].result_list] == [weekly.pk]


def test_enqueue_now_needs_change_permission() -> None:
    schedule = PeriodicScheduleFactory()
    url = reverse("admin:djobs_periodicschedule_changelist")
    data = {"action": "enqueue_now", "_selected_action": [schedule.pk]}
    staff_client("view_periodicschedule").post(url, data)
    assert not Job.objects.exists()
    staff_client("view_periodicschedule", "change_periodicschedule").post(url, data)
    assert Job.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_finished_batch_links_the_callback_job_it_fired(admin_user: User) -> None:
    from djobs.batches import batch
    from djobs.testing import drain_queue
    from tests.testapp.jobs import add, echo

    with batch(on_complete=echo, description="two sums") as b:
        add.enqueue(1, 2)
        add.enqueue(3, 4)
    drain_queue()
    row = Batch.objects.get(pk=b.id)
    assert row.state == Batch.State.FINISHED
    [(kind, path, fired)] = callback_status(row)
    callback = Job.objects.get(path="tests.testapp.jobs.echo")
    assert (kind, path, fired) == ("on_complete", "tests.testapp.jobs.echo", callback.pk)
    assert {state: n for state, n in batch_counts(row).items() if n} == {"completed": 2}
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("admin:djobs_batch_change", args=[row.pk])).content.decode()
    assert reverse("admin:djobs_job_change", args=[callback.pk]) in page
