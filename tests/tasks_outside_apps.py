"""A django.tasks Task in a module of no installed app (allowed in the tests by DJOBS['TASK_MODULES'])."""

from djobs.tasks_compat.api import task


@task
def outside() -> None:
    return None
