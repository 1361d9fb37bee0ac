from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "testproject.demo"
    label = "demo"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Job modules other than jobs.py are registered by importing them here.
        from . import orders, reports, weekly_update  # noqa: F401
