from django.apps import AppConfig


class DjobsConfig(AppConfig):
    name = "djobs"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from . import checks, conf  # noqa: F401  (registers checks and signal handlers)
        from .tasks_compat.discovery import autodiscover_tasks, uses_jobs_backend

        # Like admin.py: every installed app's jobs.py registers its @job functions.
        autodiscover_modules("jobs")
        autodiscover_tasks()  # django.tasks Tasks in tasks.py, when TASKS uses djobs
        from . import registry
        from .batches import wiring
        from .hooks import hooks

        wiring.connect(hooks)  # batch counting and completion
        from .workflows import wiring as workflow_wiring

        workflow_wiring.connect(hooks)  # releasing workflow steps
        if uses_jobs_backend():
            from .tasks_compat import finished, resolve

            registry.add_resolver(resolve.resolve)  # Tasks by module path, installed apps only
            finished.connect(hooks)  # task_finished from whichever process ends a task
