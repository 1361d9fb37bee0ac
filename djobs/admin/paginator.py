"""A paginator that never counts a million rows to draw one page."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from ..db.admin_reads import job_count_across_states
from ..db.estimates import EXACT_UP_TO, RowCount, count_rows


def count_jobs(queryset: Any, split: str = "", exact_up_to: int = EXACT_UP_TO) -> RowCount:
    """Count jobs as :func:`~djobs.db.estimates.count_rows` does; ``split="states"`` counts state by state.

    The job admin splits a queue filter without a state (``split_of``): no one
    index holds every job of a queue, so the bounded count is read from each
    state's index (djobs.db.admin_reads).
    """
    if split != "states":
        return count_rows(queryset, exact_up_to)
    return count_rows(queryset, exact_up_to, lambda limit: job_count_across_states(queryset, limit))


class EstimatedCountPaginator(Paginator):
    """Count exactly up to a cap, then use the database's estimate (``estimated`` says so)."""

    estimated = False
    exact_up_to = EXACT_UP_TO
    # Deep pages cost an OFFSET of as many rows; past this, filtering finds jobs faster.
    max_pages = 200
    # Set by the job admin (split_of): "states" for a queue filter without a state,
    # counted state by state; "queues" for a finished state without a queue, counted
    # as any list is (the finished jobs' (state, finished_at) index serves it).
    split = ""

    @cached_property
    def count(self) -> int:
        object_list: Any = self.object_list
        if not hasattr(object_list, "query"):
            return len(object_list)
        rows = count_jobs(object_list, self.split, self.exact_up_to)
        self.estimated = rows.estimated
        return rows.value

    @cached_property
    def num_pages(self) -> int:
        return min(super().num_pages, self.max_pages)
