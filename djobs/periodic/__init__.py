"""Periodic schedules: cron evaluation, settings validation and sync, admin form, descriptions.

The service that enqueues ticks lives in :mod:`djobs.maintenance.scheduler`.
"""
