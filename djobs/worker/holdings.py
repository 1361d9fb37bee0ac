"""The jobs this process holds: claimed, and not yet recorded, released or dropped.

Orphan repair compares it with the rows the database says this worker is
executing; a row held in the database but not here (a claim whose reply was
lost, an outcome undone by a database crash) is released.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable


class Holdings:
    """A thread-safe set of job ids; one per ``runjobs`` process."""

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._lock = threading.Lock()

    def add(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._ids.update(ids)

    def discard(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._ids.difference_update(ids)

    def __contains__(self, pk: object) -> bool:
        return pk in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def snapshot(self) -> frozenset[int]:
        with self._lock:
            return frozenset(self._ids)


__all__ = ["Holdings"]
