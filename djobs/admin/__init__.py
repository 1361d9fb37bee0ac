"""Jobs, batches, periodic schedules and worker processes in the Django admin.

Importing this package (Django's admin autodiscover does) registers every
djobs model on ``django.contrib.admin.site`` and puts the dashboard at
``<admin>/djobs/dashboard/``, listed under "Jobs" on the admin index.

Where each part lives:

- ``jobs``: the job list, its bulk actions, the detail page and its operations.
- ``batches``, ``periodic``, ``workers``: the batch, schedule and worker admins.
- ``workflows``: the workflow list and its page of steps, cancel and retry.
- ``dashboard``: the dashboard's queries, views and ``install_dashboard``.
- ``display``, ``filters``, ``paginator``: how values look, the list filters,
  and the paginator that never counts the whole table.
"""

from django.apps import apps
from django.contrib import admin

from ..models import Batch, Job, PeriodicSchedule, WorkerProcess, Workflow
from .batches import BatchAdmin
from .dashboard.site import install_dashboard
from .jobs import JobAdmin
from .periodic import PeriodicScheduleAdmin
from .workers import WorkerProcessAdmin
from .workflows import WorkflowAdmin

# The CLI and the template filters import helpers from this package too; a
# project without django.contrib.admin has no default site to register on.
if apps.is_installed("django.contrib.admin"):
    admin.site.register(Job, JobAdmin)
    admin.site.register(Batch, BatchAdmin)
    admin.site.register(PeriodicSchedule, PeriodicScheduleAdmin)
    admin.site.register(WorkerProcess, WorkerProcessAdmin)
    admin.site.register(Workflow, WorkflowAdmin)
    install_dashboard(admin.site)

__all__ = [
    "BatchAdmin",
    "JobAdmin",
    "PeriodicScheduleAdmin",
    "WorkerProcessAdmin",
    "WorkflowAdmin",
    "install_dashboard",
]
