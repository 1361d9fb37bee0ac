"""Workflow step and edge rows on PostgreSQL: one COPY per table instead of multi-row INSERTs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .postgres_copy import NULL

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _value(value: Any) -> str:
    if value is None:
        return NULL
    if value is True or value is False:
        return "t" if value else "f"
    return str(value).translate(_ESCAPES)


def copy_rows(
    connection: BaseDatabaseWrapper, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Write ``rows`` into ``table`` with one COPY (text format)."""
    text = "".join("\t".join(_value(v) for v in row) + "\n" for row in rows)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        copy.write(text)
