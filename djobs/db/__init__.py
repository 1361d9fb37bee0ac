"""The one seam between djobs and SQL: ``get_ops()`` returns the current database's ops.

Code asks what the database can do (``ops.supports_listen_notify``), never which
vendor it is.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import connections
from django.dispatch import receiver

from ..conf import get_settings
from .base import DatabaseOps

#: One ops object per alias: they hold nothing but their alias, and building one
#: (with its vendor lookup) was a measurable part of a single enqueue.
_ops: dict[str, DatabaseOps] = {}


def get_ops(alias: str | None = None) -> DatabaseOps:
    """Return the ops for ``alias`` (default: ``DJOBS["DATABASE"]``)."""
    alias = alias or get_settings().DATABASE
    ops = _ops.get(alias)
    if ops is None:
        ops = _ops[alias] = _new_ops(alias)
    return ops


def _new_ops(alias: str) -> DatabaseOps:
    vendor = connections[alias].vendor
    if vendor == "postgresql":
        from .postgres import PostgresOps

        return PostgresOps(alias)
    if vendor == "sqlite":
        from .sqlite import SQLiteOps

        return SQLiteOps(alias)
    if vendor == "mysql":  # MySQL and MariaDB
        from .mysql import MySQLOps

        return MySQLOps(alias)
    raise ImproperlyConfigured(
        f"djobs supports PostgreSQL, MySQL, MariaDB and SQLite; database {alias!r} is {vendor}. "
        "Point DJOBS['DATABASE'] at one of those."
    )


@receiver(setting_changed)
def _forget_ops(*, setting: str, **kwargs: Any) -> None:
    # A test may point an alias at another database (override_settings(DATABASES=...)).
    if setting == "DATABASES":
        _ops.clear()


__all__ = ["DatabaseOps", "get_ops"]
