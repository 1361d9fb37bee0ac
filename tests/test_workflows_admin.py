"""The workflow page in the admin: steps indented by depth with state and dependencies, linked both ways."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from djobs import Workflow
from djobs.models import Job
from djobs.testing import assert_workflow, drain_queue
from tests.testapp import workflow_jobs as wj

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client_(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def diamond(name: str = "import <42>") -> Workflow:
    wf = Workflow(name)
    wf.add("fetch", wj.step.new())
    wf.add("left", wj.fail.new(), deps=["fetch"])
    wf.add("right", wj.step.new(), deps=["fetch"])
    wf.add("notify", wj.collect.new(), deps=["left", "right"])
    return wf


def test_the_workflow_page_lists_steps_indented_with_state_and_dependencies(admin_client_: Client) -> None:
    wf = diamond()
    jobs = wf.enqueue()
    page = admin_client_.get(reverse("admin:djobs_workflow_change", args=[wf.id])).content.decode()
    assert "import &lt;42&gt;" in page and "<42>" not in page
    order = [page.index(f'<b class="djobs-step-name">{n}</b>') for n in ("fetch", "left", "right", "notify")]
    assert order == sorted(order)
    assert 'style="margin-left: 48px"' in page  # notify, two levels down
    assert "after left, right" in page
    assert reverse("admin:djobs_job_change", args=[jobs["notify"].pk]) in page
    assert "djobs-state-waiting" in page and 'id="djobs-op-cancel"' in page and "djobs-op-retry" not in page


def test_a_step_page_links_to_its_workflow(admin_client_: Client) -> None:
    wf = diamond()
    jobs = wf.enqueue()
    page = admin_client_.get(reverse("admin:djobs_job_change", args=[jobs["left"].pk])).content.decode()
    assert reverse("admin:djobs_workflow_change", args=[wf.id]) in page
    assert "step <b>left</b>" in page


def test_retry_and_cancel_from_the_workflow_page(admin_client_: Client) -> None:
    wf = diamond()
    wf.enqueue()
    drain_queue()
    assert_workflow(wf, {"left": "discarded", "notify": "cancelled"})
    url = reverse("admin:djobs_workflow_operate", args=[wf.id])
    response = admin_client_.post(url, {"operation": "retry"})
    assert response.status_code == 302
    assert_workflow(wf, {"left": "available", "notify": "waiting", "right": "completed"}, finished=False)
    admin_client_.post(url, {"operation": "cancel"})
    assert_workflow(wf, {"left": "cancelled", "notify": "cancelled"}, finished=True)


def test_the_operations_need_the_job_change_permission(admin_user: User) -> None:
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_workflow", "view_job"]))
    client = Client()
    client.force_login(viewer)
    wf = diamond()
    jobs = wf.enqueue()
    page = client.get(reverse("admin:djobs_workflow_change", args=[wf.id])).content.decode()
    assert "djobs-op-cancel" not in page
    response = client.post(reverse("admin:djobs_workflow_operate", args=[wf.id]), {"operation": "cancel"})
    assert response.status_code == 403
    assert Job.objects.get(pk=jobs["fetch"].pk).state == "available"


def test_the_workflow_list_shows_progress(admin_client_: Client) -> None:
    wf = diamond("listed")
    wf.enqueue()
    page = admin_client_.get(reverse("admin:djobs_workflow_changelist")).content.decode()
    assert "listed" in page and "0 of 4" in page


def test_the_dashboard_counts_waiting_steps_per_queue(admin_client_: Client) -> None:
    from djobs.admin.dashboard import queries

    wf = Workflow()
    wf.add("a", wj.step.new())
    wf.add("b", wj.step.using(queue="emails").new(), deps=["a"])
    wf.add("c", wj.step.using(queue="emails").new(), deps=["a"])
    wf.enqueue()
    grid = queries.counts()
    assert grid.cell("emails", "waiting").value == 2
    assert grid.cell("default", "available").value == 1
    data = admin_client_.get(reverse("admin:djobs_dashboard_data")).json()
    assert data["counts"]["emails"]["waiting"] == {"value": 2, "estimated": False}
