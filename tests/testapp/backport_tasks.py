"""A task made with the django-tasks backport's ``@task``, as Wagtail makes its tasks."""

from django_tasks import task  # type: ignore[import-not-found,unused-ignore]


@task
def double(value: int) -> int:
    return value * 2
