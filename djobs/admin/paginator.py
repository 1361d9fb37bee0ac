"""A paginator that never counts a million rows to draw one page."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from ..db.estimates import EXACT_UP_TO, count_rows


class EstimatedCountPaginator(Paginator):
    """Count exactly up to a cap, then use the database's estimate (``estimated`` says so)."""

    estimated = False
    exact_up_to = EXACT_UP_TO
    # Deep pages cost an OFFSET of as many rows; past this, filtering finds jobs faster.
    max_pages = 200

    @cached_property
    def count(self) -> int:
        object_list: Any = self.object_list
        if not hasattr(object_list, "query"):
            return len(object_list)
        rows = count_rows(object_list, self.exact_up_to)
        self.estimated = rows.estimated
        return rows.value

    @cached_property
    def num_pages(self) -> int:
        return min(super().num_pages, self.max_pages)
