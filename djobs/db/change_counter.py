"""Wake-ups without LISTEN: a change counter an idle producer polls (MySQL, MariaDB; PostgreSQL
behind a transaction pooler).

The newest job id and how many jobs are available (counted up to
``AVAILABLE_CAP``) are two probes of the ends of indexes. A new job moves the
first; a job staged, rescued or committed after a later id moves the second
while fewer than the cap are waiting (a bigger backlog keeps idle producers
claiming anyway). It is read at most once per ``DJOBS["WAKE_POLL_INTERVAL"]``
per process, however many producers poll: the others get the value just read.
"""

from __future__ import annotations

import threading
import time

from ..conf import get_settings
from .base import DatabaseOps

AVAILABLE_CAP = 100
_CHANGE_SQL = f"""
    SELECT (SELECT COALESCE(MAX(id), 0) FROM djobs_job),
           (SELECT COUNT(*) FROM (SELECT 1 FROM djobs_job WHERE state = 'available'
                                  LIMIT {AVAILABLE_CAP}) AS waiting)
"""


class _Poll:
    """The change counter as last read per alias, shared by a process's producers."""

    lock = threading.Lock()
    values: dict[str, int] = {}
    read_at: dict[str, float] = {}


class PolledChangeCounter(DatabaseOps):
    """``change_counter()`` read with one indexed query per WAKE_POLL_INTERVAL per process."""

    @property
    def change_counter_interval(self) -> float:  # type: ignore[override]
        """How stale change_counter() may be: DJOBS["WAKE_POLL_INTERVAL"]."""
        return get_settings().WAKE_POLL_INTERVAL

    def change_counter(self) -> int:
        now = time.monotonic()
        interval = get_settings().WAKE_POLL_INTERVAL
        with _Poll.lock:
            cached = _Poll.values.get(self.alias)
            # Before the first value is in, every caller reads one of its own.
            if cached is not None and now - _Poll.read_at.get(self.alias, float("-inf")) < interval:
                return cached
            _Poll.read_at[self.alias] = now
        with self.connection.cursor() as cursor:
            cursor.execute(_CHANGE_SQL)
            newest, waiting = cursor.fetchone()
        value = int(newest) * (AVAILABLE_CAP + 1) + int(waiting)
        _Poll.values[self.alias] = value
        return value


__all__ = ["AVAILABLE_CAP", "PolledChangeCounter"]
