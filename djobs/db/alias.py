"""What every part of the database seam shares: the alias it works on and its connection."""

from __future__ import annotations

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper


class AliasOps:
    """Base of the seam's parts: ``alias`` names the database, ``connection`` is this thread's."""

    alias: str

    @property
    def connection(self) -> BaseDatabaseWrapper:
        return connections[self.alias]

    def table(self) -> str:
        return self.connection.ops.quote_name("djobs_job")


__all__ = ["AliasOps"]
