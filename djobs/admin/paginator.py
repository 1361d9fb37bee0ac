"""A paginator that never counts a million rows to draw one page."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from ..db.admin_reads import job_count_across_states
from ..db.estimates import EXACT_UP_TO, count_rows, estimate_rows


class EstimatedCountPaginator(Paginator):
    """Count exactly up to a cap, then use the database's estimate (``estimated`` says so)."""

    estimated = False
    exact_up_to = EXACT_UP_TO
    # Deep pages cost an OFFSET of as many rows; past this, filtering finds jobs faster.
    max_pages = 200
    # Set by the job admin: "states" for a queue filter without a state, counted state
    # by state (djobs.db.admin_reads), since no one index holds every job of a queue;
    # "queues" for a finished state without a queue (counted as any list is).
    split = ""

    @cached_property
    def count(self) -> int:
        object_list: Any = self.object_list
        if not hasattr(object_list, "query"):
            return len(object_list)
        if self.split != "states":
            rows = count_rows(object_list, self.exact_up_to)
            self.estimated = rows.estimated
            return rows.value
        seen = job_count_across_states(object_list, self.exact_up_to + 1)
        estimate = estimate_rows(object_list) if seen > self.exact_up_to else None
        if estimate is None:
            return seen if seen <= self.exact_up_to else int(object_list.count())
        self.estimated = True
        return max(estimate, seen)

    @cached_property
    def num_pages(self) -> int:
        return min(super().num_pages, self.max_pages)
