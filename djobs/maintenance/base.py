"""The one shape every maintenance service has.

A service has a config (defaults, ``validate()`` naming the bad field), an
``interval`` in seconds and ``run_once()`` that does one round of work and
returns a small result saying what it did. Services must be safe when several
``runjobs`` processes run them at the same time: they change rows with
conditional statements, never with a read-then-write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ServiceResult:
    """What one ``run_once()`` did: a count per kind of change."""

    counts: dict[str, int]

    def __bool__(self) -> bool:
        return any(self.counts.values())


class Service(Protocol):
    name: str
    #: Whether a ``--burst`` worker runs it (its own idle check may do the work instead).
    in_burst: bool
    #: Whether the runner logs a round that changed something (not for every-second rounds).
    log_rounds: bool

    @property
    def interval(self) -> float: ...

    def run_once(self) -> ServiceResult: ...
