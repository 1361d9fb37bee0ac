"""Where one part of djobs reacts to another: three typed seams, registered in ``DjobsConfig.ready()``.

- **insert** (:class:`InsertHook`): called with the jobs an enqueue inserted,
  inside the insert's transaction. ``applies(rows)`` says whether it acts on
  the rows at all: a single enqueue outside a transaction is one autocommit
  statement only when no hook applies (batches grow their size in the same
  transaction as their jobs).
- **terminal** (:class:`TerminalHook`): called with the jobs that reached a
  terminal state (completed, discarded, cancelled) once that is committed,
  whoever made it so: the dispatcher, the rescuer, an operator, a testing
  helper. Only jobs whose change actually held are passed. A caller that must
  not wait (the dispatcher's outcome recorder) asks for ``deferred`` and gets
  the hook's ``later`` when it has one. Hooks must be short and safe to call
  twice for the same job (delivery is at least once); an exception is logged,
  never raised, and undoes nothing. A hook marked ``in_transaction`` (batches,
  workflows) is also called, by :meth:`Hooks.within_transaction`, inside the
  transaction that ends an atomic job, before it commits.
- **idle** (``Callable[[], bool]``): run when a ``--burst`` worker finds
  nothing to do, before it exits; each finishes work it was handed in the
  background and returns True if there was any (it may have enqueued jobs), so
  the worker looks again.

Batches register theirs in ``djobs.batches.wiring.connect``::

    from djobs.hooks import TerminalHook, hooks
    hooks.add_terminal(TerminalHook(check_now, later=check_in_background))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .enqueue import PendingJob
    from .models import Job

logger = logging.getLogger("djobs")


@dataclass(frozen=True)
class TerminalJob:
    """A job that just reached a terminal state."""

    id: int
    state: str
    queue: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InsertHook:
    """``call(jobs)`` after an insert, in its transaction; ``applies(rows)`` before it."""

    call: Callable[[list[Job]], None]
    applies: Callable[[Sequence[PendingJob]], bool]


@dataclass(frozen=True)
class TerminalHook:
    """``call(jobs)`` after jobs ended; ``later(jobs)`` instead for a caller that must not wait.

    ``in_transaction``: ``call`` only writes rows of djobs' database, so it may
    also run inside the transaction that ends the jobs (an atomic job's).
    """

    call: Callable[[list[TerminalJob]], None]
    later: Callable[[list[TerminalJob]], None] | None = None
    in_transaction: bool = False
    #: Called in that transaction before the jobs' rows are written: takes the locks
    #: ``call`` will need first, so that concurrent transactions wait instead of deadlocking.
    prepare: Callable[[list[TerminalJob]], None] | None = None
    #: Called instead of ``call`` inside that transaction, when given: it must let errors
    #: propagate (to the caller's savepoint), where ``call`` may log and go on.
    within: Callable[[list[TerminalJob]], None] | None = None


class Hooks:
    """The registered hooks; one instance, :data:`hooks`. Adding the same hook twice keeps one."""

    def __init__(self) -> None:
        self.insert: list[InsertHook] = []
        self.terminal: list[TerminalHook] = []
        self.idle: list[Callable[[], bool]] = []

    def add_insert(self, hook: InsertHook) -> None:
        if hook not in self.insert:
            self.insert.append(hook)

    def add_terminal(self, hook: TerminalHook) -> None:
        if hook not in self.terminal:
            self.terminal.append(hook)

    def remove_terminal(self, hook: TerminalHook) -> None:
        if hook in self.terminal:
            self.terminal.remove(hook)

    def add_idle(self, hook: Callable[[], bool]) -> None:
        if hook not in self.idle:
            self.idle.append(hook)

    def insert_applies(self, rows: Sequence[PendingJob]) -> bool:
        """Say whether an insert hook acts on ``rows`` (so they need a transaction of their own)."""
        return any(hook.applies(rows) for hook in self.insert)

    def after_insert(self, jobs: list[Job]) -> None:
        """Call the insert hooks; an exception propagates and rolls the insert back."""
        for hook in list(self.insert):
            hook.call(jobs)

    def after_terminal(self, jobs: list[TerminalJob], *, deferred: bool = False) -> None:
        """Call the terminal hooks with ``jobs``; log, never raise."""
        if not jobs:
            return
        for hook in list(self.terminal):
            call = hook.later if deferred and hook.later is not None else hook.call
            try:
                call(jobs)
            except Exception:
                logger.exception("djobs terminal hook %r failed", call, extra={"djobs_hook": repr(call)})

    def prepare_transaction(self, jobs: list[TerminalJob]) -> None:
        """Call the ``prepare`` of the ``in_transaction`` hooks, before the jobs' rows are written."""
        for hook in list(self.terminal):
            if hook.in_transaction and hook.prepare is not None and jobs:
                hook.prepare(jobs)

    def within_transaction(self, jobs: list[TerminalJob]) -> None:
        """Call the ``in_transaction`` hooks inside the caller's transaction; an exception propagates."""
        if not jobs:
            return
        for hook in list(self.terminal):
            if hook.in_transaction:
                (hook.within or hook.call)(jobs)

    def before_idle(self) -> bool:
        """Call the idle hooks; say whether any of them had work."""
        busy = False
        for hook in list(self.idle):
            try:
                busy = bool(hook()) or busy
            except Exception:
                logger.exception("djobs idle hook %r failed", hook)
        return busy


hooks = Hooks()

__all__ = ["Hooks", "InsertHook", "TerminalHook", "TerminalJob", "hooks"]
