"""The job bench/enqueue.py enqueues: no arguments, so the rows are what the database sees alone."""

from __future__ import annotations

from djobs import job


@job
def nothing() -> None:
    """Do nothing (only ever enqueued by the benchmark)."""
