"""Row counts that stay cheap on big tables: exact up to a cap, the planner's estimate beyond.

The admin and the dashboard use these instead of ``COUNT(*)``, which reads
every matching row. The planner's estimate (``EXPLAIN`` on PostgreSQL, MySQL
and MariaDB, through ``DatabaseOps.explain_rows``) costs a fraction of a
millisecond whatever the table size; SQLite has none, so there the count is
exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

# Counting this many rows through an index takes a few milliseconds.
EXACT_UP_TO = 10_000


@dataclass(frozen=True)
class RowCount:
    """A row count and whether it is the planner's estimate rather than exact."""

    value: int
    estimated: bool = False


def supports_estimates(alias: str) -> bool:
    """Say whether the database on ``alias`` can estimate row counts."""
    from . import get_ops

    return get_ops(alias).supports_row_estimates


def estimate_rows(queryset: QuerySet[Any]) -> int | None:
    """Return the planner's estimate of the rows ``queryset`` yields, or None where there is none."""
    if not supports_estimates(queryset.db):
        return None
    from . import get_ops

    sql, params = queryset.order_by().query.sql_with_params()
    return get_ops(queryset.db).explain_rows(sql, params)


def count_rows(
    queryset: QuerySet[Any],
    exact_up_to: int = EXACT_UP_TO,
    bounded: Callable[[int], int] | None = None,
) -> RowCount:
    """Count ``queryset`` exactly when it has at most ``exact_up_to`` rows, else estimate.

    The bounded count reads at most ``exact_up_to + 1`` rows (``bounded(n)``
    counts at most ``n`` rows another way). Past that, the estimate is used
    where the database has one (never below the rows already seen); without
    one, the full count is taken.
    """
    limit = exact_up_to + 1
    seen = bounded(limit) if bounded is not None else queryset.order_by()[:limit].count()
    if seen <= exact_up_to:
        return RowCount(seen)
    estimate = estimate_rows(queryset)
    if estimate is None:
        return RowCount(queryset.count())
    return RowCount(max(estimate, seen), estimated=True)


__all__ = ["EXACT_UP_TO", "RowCount", "count_rows", "estimate_rows", "supports_estimates"]
