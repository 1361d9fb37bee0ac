"""The parts of djobs' ``django.tasks`` backend that are not the backend class itself.

``api`` finds ``django.tasks`` (Django 6) or the ``django_tasks`` backport,
``priority`` and ``results`` translate between Job rows and Django's
vocabulary (pure functions), ``runner`` turns a Task into an entry of
:mod:`djobs.registry`, and ``discovery`` imports every app's ``tasks.py`` when
a djobs backend is configured. The backend is :class:`djobs.backends.JobsBackend`.
"""
