"""Put the dashboard on an admin site: its URLs, and a row under "Jobs" on the index."""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite
from django.http import HttpRequest
from django.urls import URLPattern, URLResolver, path, reverse

from . import queue_actions, views

DASHBOARD_NAME = "Dashboard"


def install_dashboard(site: AdminSite) -> None:
    """Serve the dashboard at ``<site>/djobs/dashboard/`` and list it on ``site``'s index.

    ``djobs.admin`` does this for ``django.contrib.admin.site``; call it for a
    custom ``AdminSite`` after registering the djobs models on it.
    """
    if getattr(site, "_djobs_dashboard", False):
        return
    site._djobs_dashboard = True  # type: ignore[attr-defined]
    base_get_urls = site.get_urls
    base_get_app_list = site.get_app_list

    def get_urls() -> list[URLResolver | URLPattern]:
        return [
            path("djobs/dashboard/", site.admin_view(views.dashboard(site)), name="djobs_dashboard"),
            path(
                "djobs/dashboard/data.json",
                site.admin_view(views.dashboard_data),
                name="djobs_dashboard_data",
            ),
            path(
                "djobs/dashboard/queue/<str:action>/",
                site.admin_view(queue_actions.queue_action(site)),
                name="djobs_queue_action",
            ),
            *base_get_urls(),
        ]

    def get_app_list(request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        app_list = base_get_app_list(request, app_label)
        if not views.can_view_dashboard(request):
            return app_list
        for app in app_list:
            if app["app_label"] == "djobs":
                app["models"].insert(
                    0,
                    {
                        "name": DASHBOARD_NAME,
                        "object_name": "Dashboard",
                        "model_name": "dashboard",
                        "admin_url": reverse(f"{site.name}:djobs_dashboard"),
                        "add_url": None,
                        "view_only": True,
                        "perms": {"view": True},
                    },
                )
        return app_list

    site.get_urls = get_urls  # type: ignore[method-assign]
    site.get_app_list = get_app_list  # type: ignore[method-assign]
