"""The cursor of an ordered QuerySet: its one ordering field, read from each row, resumed after.

Pure: reads the query's ordering and the model's fields, runs no query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable

from .errors import StepError

_FIX = "order it by one unique field (order_by('pk')), or pass a callable source yielding (item, cursor)"


@dataclass(frozen=True)
class OrderingKey:
    """The field a QuerySet iterates in: its name, its attribute, and the direction."""

    name: str
    attname: str
    descending: bool

    def cursor_of(self, row: Model) -> Any:
        """Return the cursor of ``row``: its key as JSON keeps it (ints and strings as they are)."""
        value = getattr(row, self.attname)
        if isinstance(value, int | str) and not isinstance(value, bool):
            return value
        field: Any = row._meta.get_field(self.name)
        return field.value_to_string(row)

    def after(self, queryset: QuerySet[Any], cursor: Any) -> QuerySet[Any]:
        """Return the rows of ``queryset`` that come after ``cursor`` (all of them for None)."""
        if cursor is None:
            return queryset
        lookup = "lt" if self.descending else "gt"
        return queryset.filter(**{f"{self.name}__{lookup}": cursor})


def ordering_key(queryset: QuerySet[Any], name: str) -> OrderingKey:
    """Return the key ``queryset`` is ordered by, or raise StepError saying how to order it."""
    where = f"ctx.each({name!r}, {queryset.model.__name__} queryset)"
    if queryset.query.is_sliced:
        raise StepError(f"{where}: the queryset is sliced; {_FIX} without slicing it.")
    if queryset._iterable_class is not ModelIterable:
        raise StepError(f"{where}: values() and values_list() rows have no cursor djobs can read; {_FIX}.")
    query = queryset.query
    ordering = list(query.order_by) or (list(queryset.model._meta.ordering) if query.default_ordering else [])
    if len(ordering) != 1 or not isinstance(ordering[0], str):
        shown = ", ".join(repr(o) if isinstance(o, str) else str(o) for o in ordering) or "no ordering"
        raise StepError(f"{where} is ordered by {shown}; {_FIX}.")
    term = ordering[0]
    # .reverse() flips standard_ordering, not the terms: order_by("pk").reverse() runs descending.
    descending = term.startswith("-") != (not query.standard_ordering)
    field_name = term.lstrip("-+")
    opts = queryset.model._meta
    if field_name == "pk":
        field = opts.pk
    else:
        try:
            field = opts.get_field(field_name)
        except FieldDoesNotExist:
            raise StepError(f"{where} is ordered by {term!r}, not a field of its model; {_FIX}.") from None
    assert field is not None
    # A multi-table-inheritance child's pk is the one-to-one link to its parent: unique,
    # never null, compared as the parent's id, so order_by("pk") there is a usable key.
    parent_link = (
        field.primary_key and field.is_relation and getattr(field.remote_field, "parent_link", False)
    )
    if (field.is_relation and not parent_link) or not getattr(field, "concrete", False):
        raise StepError(f"{where} is ordered by {term!r}, a relation; {_FIX}.")
    if not (field.primary_key or field.unique):
        raise StepError(
            f"{where} is ordered by {term!r}, which is not unique: rows sharing a value could be "
            f"skipped on resume; {_FIX}."
        )
    if field.null:
        raise StepError(
            f"{where} is ordered by {term!r}, which may be NULL: rows with no value have no cursor "
            f"to resume after (and NULLs sort differently per database), so they would be skipped or "
            f"read again forever. Make {opts.label}.{field.name} NOT NULL, or "
            f"{_FIX}."
        )
    return OrderingKey(field.name, field.attname, descending)


__all__ = ["OrderingKey", "ordering_key"]
