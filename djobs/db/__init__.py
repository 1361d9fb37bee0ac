"""The one seam between djobs and SQL: ``get_ops()`` returns the current database's ops.

Code asks what the database can do (``ops.supports_listen_notify``), never which
vendor it is.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from ..conf import get_settings
from .base import DatabaseOps


def get_ops(alias: str | None = None) -> DatabaseOps:
    """Return the ops for ``alias`` (default: ``DJOBS["DATABASE"]``)."""
    alias = alias or get_settings().DATABASE
    connection = connections[alias]
    vendor = connection.vendor
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


__all__ = ["DatabaseOps", "get_ops"]
