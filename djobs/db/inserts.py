"""Inserting job rows: one statement per chunk, unique keys through ON CONFLICT DO NOTHING.

A row whose unique key is already held comes back as the job holding it,
marked ``duplicate``. Database modules override the plain insert (COPY on
PostgreSQL) and the single-statement insert-and-notify.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..states import is_covered
from .alias import AliasOps

if TYPE_CHECKING:
    from ..enqueue import PendingJob
    from ..models import Job

_INSERT_COLUMNS = (
    "state",
    "queue",
    "path",
    "args",
    "kwargs",
    "meta",
    "tags",
    "priority",
    "subpriority",
    "attempt",
    "max_attempts",
    "errors",
    "unique_key",
    "unique_states",
    "unique_base",
    "inserted_at",
    "scheduled_at",
    "partition_key",
)


_PLACEHOLDERS = "(" + ", ".join(["%s"] * len(_INSERT_COLUMNS)) + ")"


def held_key(row: PendingJob) -> str | None:
    """Return the unique key ``row`` holds as inserted: none in a state its uniqueness does not cover.

    The key is kept in ``unique_base`` either way, and taken when the job
    reaches a covered state (djobs.db.fragments.rekey).
    """
    if row.unique_key is None or not is_covered(row.unique_states, row.state):
        return None
    return row.unique_key


class InsertOps(AliasOps):
    """The inserting half of :class:`djobs.db.base.DatabaseOps`."""

    def _new_job(self, row: PendingJob) -> Job:
        from ..models import Job

        return Job(
            state=row.state,
            queue=row.queue,
            path=row.path,
            args=row.args,
            kwargs=row.kwargs,
            meta=row.meta,
            tags=row.tags,
            priority=row.priority,
            subpriority=row.subpriority,
            max_attempts=row.max_attempts,
            unique_key=held_key(row),
            unique_states=row.unique_states,
            unique_base=row.unique_key,
            inserted_at=row.inserted_at,
            scheduled_at=row.scheduled_at,
            partition_key=row.partition_key,
        )

    def job_insert_many(self, rows: Sequence[PendingJob], *, chunk_size: int) -> list[Job]:
        """Insert ``rows``; a row whose unique key is held returns the holder, marked duplicate."""

        results: list[Job | None] = [None] * len(rows)
        plain = [i for i, row in enumerate(rows) if held_key(row) is None]
        if plain:
            created = self._insert_plain([rows[i] for i in plain], chunk_size)
            for i, job in zip(plain, created, strict=True):
                results[i] = job
        unique = [i for i, row in enumerate(rows) if held_key(row) is not None]
        if unique:
            by_key = self._insert_unique([rows[i] for i in unique], chunk_size)
            first_index: dict[str, int] = {}
            for i in unique:
                key = rows[i].unique_key
                assert key is not None
                job = by_key[key]
                if key in first_index:
                    # The same key twice in one call: the second is a duplicate of the first.
                    dup = copy.copy(job)
                    dup.duplicate = True
                    results[i] = dup
                else:
                    first_index[key] = i
                    results[i] = job
        return [job for job in results if job is not None]

    def _insert_plain(self, rows: Sequence[PendingJob], chunk_size: int) -> list[Job]:
        """Insert rows that hold no unique key, returning them with their ids."""
        from ..models import Job

        return Job.objects.using(self.alias).bulk_create(
            [self._new_job(row) for row in rows], batch_size=chunk_size
        )

    def _insert_unique(self, rows: Sequence[PendingJob], chunk_size: int) -> dict[str, Job]:
        """Insert with ON CONFLICT DO NOTHING; read back the jobs that held the keys."""
        from ..models import Job

        wanted: dict[str, PendingJob] = {}
        for row in rows:
            assert row.unique_key is not None
            wanted.setdefault(row.unique_key, row)
        found: dict[str, Job] = {}
        # A holder may leave its unique states between our conflict and our read;
        # then the key is free again and the next round inserts it.
        for _round in range(5):
            missing = [row for key, row in wanted.items() if key not in found]
            if not missing:
                break
            for start in range(0, len(missing), chunk_size):
                chunk = missing[start : start + chunk_size]
                for pk, key in self._insert_ignoring_conflicts(chunk):
                    job = self._new_job(wanted[key])
                    job.pk = pk
                    job._state.adding = False
                    job._state.db = self.alias
                    found[key] = job
            held = [key for key in wanted if key not in found]
            for start in range(0, len(held), chunk_size):
                keys = held[start : start + chunk_size]
                for job in Job.objects.using(self.alias).filter(unique_key__in=keys):
                    assert job.unique_key is not None
                    job.duplicate = True
                    found[job.unique_key] = job
        missing_keys = [key for key in wanted if key not in found]
        if missing_keys:
            raise RuntimeError(f"Could not insert or find unique jobs {missing_keys[:3]}...")
        return found

    def _insert_ignoring_conflicts(self, rows: Sequence[PendingJob]) -> list[tuple[int, str]]:
        sql = (
            f"INSERT INTO {self.table()} ({', '.join(_INSERT_COLUMNS)}) VALUES "
            + ", ".join([_PLACEHOLDERS] * len(rows))
            + " ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING"
            + " RETURNING id, unique_key"
        )
        params: list[Any] = []
        for row in rows:
            params.extend(self._row_params(row))
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [(int(pk), str(key)) for pk, key in cursor.fetchall()]

    def _row_params(self, row: PendingJob) -> list[Any]:
        """Return ``row``'s values in _INSERT_COLUMNS order, adapted for this database."""
        ops = self.connection.ops
        return [
            row.state,
            row.queue,
            row.path,
            self.adapt_json(row.args),
            self.adapt_json(row.kwargs),
            self.adapt_json(row.meta),
            self.adapt_json(row.tags),
            row.priority,
            row.subpriority,
            0,
            row.max_attempts,
            self.adapt_json([]),
            held_key(row),
            row.unique_states,
            row.unique_key,
            ops.adapt_datetimefield_value(row.inserted_at),
            ops.adapt_datetimefield_value(row.scheduled_at),
            row.partition_key,
        ]

    #: Whether job_insert_one() can insert and notify in one autocommit statement.
    supports_single_statement_insert = False

    def job_insert_one(self, row: PendingJob, *, notify: bool) -> Job:
        """Insert one plain row (no unique key) and, if ``notify``, wake its queue, in one statement.

        Only for connections in autocommit: the statement is its own transaction.
        """
        raise NotImplementedError

    def adapt_json(self, value: Any) -> Any:
        """Return ``value`` ready to bind as a JSON column parameter."""
        return self.connection.ops.adapt_json_value(value, None)


__all__ = ["InsertOps"]
