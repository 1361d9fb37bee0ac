"""Flow control in the seam: the limited claim and the queue-state rows, shared by every database.

The plain claim (``job_claim``) stays one statement per queue; a queue with a
global or rate limit is claimed here instead, in one transaction:

1. lock the queue's ``djobs_flow_limit`` row (``FOR UPDATE``; SQLite's claim
   already holds the write lock), so the claims of one limited queue take
   turns across all workers and the count below cannot go stale;
2. count the queue's executing jobs per partition (through the partial index
   of executing jobs) and read the database clock;
3. pick runnable jobs in dispatch order, leaving out the full partitions, and
   keep what djobs.flow.limits allows;
4. move exactly those to executing, read them back, and log their starts in
   the locked row when the queue is rate limited.

A database module supplies ``flow_epoch_sql`` (its clock, in epoch seconds)
and ``_flow_transaction()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import transaction

from ..flow.limits import Limits, choose, plan_claim, record_starts
from ..states import STATE_BITS
from .fragments import keep_key, rekey

if TYPE_CHECKING:
    from ..models import Job

# The most runnable jobs one claim of a partitioned queue looks at.
PICK_WINDOW = 1000

_CLAIM_UPDATE = f"""
    UPDATE djobs_job
    SET state = 'executing', attempt = attempt + 1, attempted_at = NULL, worker_id = %s,
        unique_key = {keep_key(str(STATE_BITS["executing"]))}
    WHERE id IN ({{ids}}) AND state = 'available'
"""


def _ids(ids: Sequence[int]) -> str:
    return ", ".join(str(int(pk)) for pk in ids)


class FlowOps:
    """The limited claim and queue-state rows; mixed into each database's DatabaseOps."""

    #: SQL for the database clock in seconds since the epoch (the one clock of rate limits).
    flow_epoch_sql = ""

    if TYPE_CHECKING:  # provided by DatabaseOps
        alias: str
        connection: Any
        CLAIM_COLUMNS: tuple[str, ...]
        supports_listen_notify: bool

        def jobs_from_rows(self, rows: Sequence[Sequence[Any]], *, worker_id: str, now: Any) -> list[Job]: ...

        def job_restore_unique(self, ids: Sequence[int]) -> int: ...

        def notify_inserted(self, queues: Sequence[str]) -> None: ...

    @contextmanager
    def _flow_transaction(self) -> Iterator[Any]:
        """Yield a cursor inside a transaction that commits when the block ends."""
        with transaction.atomic(using=self.alias), self.connection.cursor() as cursor:
            yield cursor

    # -- the limited claim ----------------------------------------------------------

    def flow_limit_ensure(self, queue: str) -> None:
        """Create ``queue``'s limit row if it is missing (idempotent, safe under races)."""
        from ..flow.models import FlowLimit

        FlowLimit._default_manager.using(self.alias).bulk_create(
            [FlowLimit(queue=queue, starts={})], ignore_conflicts=True
        )

    def flow_clock(self) -> float:
        """Return the database clock in epoch seconds."""
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT {self.flow_epoch_sql}")
            return float(cursor.fetchone()[0])

    def job_claim_limited(
        self, *, queue: str, limit: int, worker_id: str, now: Any, limits: Limits
    ) -> tuple[list[Job], float | None]:
        """Claim up to ``limit`` jobs of ``queue`` within ``limits``, race-free across workers.

        Returns the jobs and, when a rate limit held some back, the seconds
        until one more may start (else None).
        """
        outcome = self._claim_limited_once(queue, limit, worker_id, limits)
        if outcome is None:  # the queue's first limited claim: its row is made once
            self.flow_limit_ensure(queue)
            outcome = self._claim_limited_once(queue, limit, worker_id, limits)
            if outcome is None:
                raise RuntimeError(f"djobs_flow_limit has no row for queue {queue!r}")
        rows, retry_in = outcome
        if not rows:
            return [], retry_in
        rekeyed = [row[0] for row in rows if row[-1]]
        if rekeyed:
            self.job_restore_unique(rekeyed)
        return self.jobs_from_rows(rows, worker_id=worker_id, now=now), retry_in

    def _claim_limited_once(
        self, queue: str, limit: int, worker_id: str, limits: Limits
    ) -> tuple[list[Any], float | None] | None:
        """Run one limited claim transaction; None when the queue has no limit row yet."""
        lock = " FOR UPDATE" if self.connection.features.has_select_for_update else ""
        skip = " FOR UPDATE SKIP LOCKED" if self.connection.features.has_select_for_update_skip_locked else ""
        part = "COALESCE(partition_key, '')" if limits.partitioned else "''"
        with self._flow_transaction() as cursor:
            cursor.execute(f"SELECT starts FROM djobs_flow_limit WHERE queue = %s{lock}", [queue])
            found = cursor.fetchone()
            if found is None:
                return None
            starts = json.loads(found[0]) if isinstance(found[0], str) else (found[0] or {})
            # Read after the lock: the count and the clock are then those of this claim's turn.
            group = f" GROUP BY {part}" if limits.partitioned else ""
            cursor.execute(
                f"SELECT NULL, 0, {self.flow_epoch_sql} UNION ALL "
                f"SELECT {part}, COUNT(*), NULL FROM djobs_job "
                f"WHERE state = 'executing' AND queue = %s{group}",
                [queue],
            )
            executing: dict[str, int] = {}
            clock = 0.0
            for partition, count, epoch in cursor.fetchall():
                if epoch is not None:
                    clock = float(epoch)
                else:
                    executing[partition] = int(count)
            plan = plan_claim(limits, executing, starts, clock, limit)
            if plan.total <= 0:
                return [], plan.retry_in
            where = ""
            params: list[Any] = [queue]
            if limits.partitioned and plan.full:
                where = f" AND {part} NOT IN ({', '.join(['%s'] * len(plan.full))})"
                params += plan.full
            window = min(PICK_WINDOW, limit * 10) if limits.partitioned else plan.total
            cursor.execute(
                f"SELECT id, {part} FROM djobs_job WHERE state = 'available' AND queue = %s{where} "
                f"ORDER BY priority, subpriority, scheduled_at, id LIMIT %s{skip}",
                [*params, window],
            )
            ids, taken = choose(plan, cursor.fetchall())
            if not ids:
                return [], plan.retry_in
            cursor.execute(_CLAIM_UPDATE.format(ids=_ids(ids)), [worker_id])
            cursor.execute(
                f"SELECT {', '.join(self.CLAIM_COLUMNS)}, {rekey()} FROM djobs_job "
                f"WHERE id IN ({_ids(ids)}) AND state = 'executing' AND worker_id = %s "
                "ORDER BY priority, subpriority, scheduled_at, id",
                [worker_id],
            )
            rows = list(cursor.fetchall())
            if limits.rate_allowed is not None:
                cursor.execute(
                    "UPDATE djobs_flow_limit SET starts = %s WHERE queue = %s",
                    [json.dumps(record_starts(starts, taken, clock, limits)), queue],
                )
        return rows, plan.retry_in

    # -- queue state ------------------------------------------------------------------

    def queue_state_list(self) -> dict[str, dict[str, Any]]:
        """Return every queue-state row: name -> its fields (one small read)."""
        from ..flow.models import QueueState

        fields = ("name", "paused", "concurrency", "global_limit", "rate_allowed", "rate_period")
        return {row["name"]: row for row in QueueState._default_manager.using(self.alias).values(*fields)}

    def queue_state_update(self, name: str, **fields: Any) -> None:
        """Set fields of queue ``name``'s state row (created if missing); announce it to workers."""
        from ..flow.models import QueueState

        with transaction.atomic(using=self.alias):
            QueueState._default_manager.using(self.alias).update_or_create(name=name, defaults=fields)
            if self.supports_listen_notify:
                from ..flow.state import STATE_PAYLOAD

                self.notify_inserted([STATE_PAYLOAD])


__all__ = ["PICK_WINDOW", "FlowOps"]
