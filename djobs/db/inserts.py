"""Inserting job rows: one statement per chunk, unique keys through ON CONFLICT DO NOTHING.

A row whose unique key is already held comes back as the job holding it,
marked ``duplicate``. Database modules override the plain insert (COPY on
PostgreSQL) and the single-statement insert-and-notify. ``job_insert_rows``
writes the same rows as ``job_insert_many`` without building a Job for them
(a bulk enqueue with ``return_jobs=False``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

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


def _split(rows: Sequence[PendingJob]) -> tuple[list[int], list[int]]:
    """Return the indexes of the rows that hold no unique key, and of those that do."""
    plain: list[int] = []
    unique: list[int] = []
    for i, row in enumerate(rows):
        (plain if held_key(row) is None else unique).append(i)
    return plain, unique


# The Job model, and its columns saved_job() does not set itself (added by later
# migrations, set to their defaults); looked up once, not at every insert.
_job_fields: tuple[type[Job], list[Any]] | None = None


def _others() -> tuple[type[Job], list[Any]]:
    global _job_fields
    if _job_fields is None:
        from ..models import Job

        _job_fields = (Job, [f for f in Job._meta.concrete_fields if f.attname not in _SAVED_ATTNAMES])
    return _job_fields


_SAVED_ATTNAMES = frozenset(("id", *_INSERT_COLUMNS, "result", "attempted_at", "finished_at", "worker_id"))


class InsertOps(AliasOps):
    """The inserting half of :class:`djobs.db.base.DatabaseOps`."""

    def saved_job(self, row: PendingJob, pk: int) -> Job:
        """Return the Job that inserting ``row`` under ``pk`` made, as if loaded from the database."""
        return self.saved_jobs([row], [pk])[0]

    def saved_jobs(self, rows: Sequence[PendingJob], ids: Sequence[int]) -> list[Job]:
        """Return the Jobs that inserting ``rows`` under ``ids`` made, as if loaded from the database."""
        Job, others = _others()
        alias = self.alias
        # What from_db makes, without __init__'s per-field setattr loop (a third
        # of a bulk call's time when it returns its Jobs); through __init__ when
        # someone listens for its signals.
        signals = (pre_init.receivers and pre_init.has_listeners(Job)) or (
            post_init.receivers and post_init.has_listeners(Job)
        )
        jobs = []
        for row, pk in zip(rows, ids, strict=True):
            values = {
                "id": pk,
                "state": row.state,
                "queue": row.queue,
                "path": row.path,
                "args": row.args,
                "kwargs": row.kwargs,
                # Rows of one bulk call share their meta and tags; each job gets its own.
                "meta": dict(row.meta),
                "tags": list(row.tags),
                "priority": row.priority,
                "subpriority": row.subpriority,
                "attempt": 0,
                "max_attempts": row.max_attempts,
                "errors": [],
                "result": None,
                "unique_key": held_key(row),
                "unique_states": row.unique_states,
                "unique_base": row.unique_key,
                "inserted_at": row.inserted_at,
                "scheduled_at": row.scheduled_at,
                "attempted_at": None,
                "finished_at": None,
                "worker_id": None,
                "partition_key": row.partition_key,
            }
            for field in others:
                values[field.attname] = field.get_default()
            if signals:
                names = [f.attname for f in Job._meta.concrete_fields]
                jobs.append(Job.from_db(alias, names, [values[name] for name in names]))
                continue
            job = Job.__new__(Job)
            state = ModelState()
            state.adding = False
            state.db = alias
            values["_state"] = state
            job.__dict__.update(values)
            jobs.append(job)
        return jobs

    def job_insert_many(self, rows: Sequence[PendingJob], *, chunk_size: int) -> list[Job]:
        """Insert ``rows``; a row whose unique key is held returns the holder, marked duplicate."""
        results: list[Job | None] = [None] * len(rows)
        plain, unique = _split(rows)
        if plain:
            created = self._insert_plain(rows if not unique else [rows[i] for i in plain], chunk_size)
            for i, job in zip(plain, created, strict=True):
                results[i] = job
        if unique:
            by_key = self._insert_unique([rows[i] for i in unique], chunk_size)
            seen: set[str] = set()
            for i in unique:
                key = rows[i].unique_key
                assert key is not None
                job = by_key[key]
                if key in seen:
                    # The same key twice in one call: the second is a duplicate of the first.
                    dup = copy.copy(job)
                    dup.duplicate = True
                    results[i] = dup
                else:
                    seen.add(key)
                    results[i] = job
        return [job for job in results if job is not None]

    def job_insert_rows(self, rows: Sequence[PendingJob], *, chunk_size: int) -> int:
        """Insert ``rows`` as job_insert_many does, building no Job for them; return how many are new."""
        plain, unique = _split(rows)
        if plain:
            self._write_plain(rows if not unique else [rows[i] for i in plain], chunk_size)
        if not unique:
            return len(plain)
        by_key = self._insert_unique([rows[i] for i in unique], chunk_size)
        return len(plain) + sum(1 for job in by_key.values() if not job.duplicate)

    def insert_rows_per_statement(self) -> int:
        """Return how many rows one INSERT may carry here (bound parameters are limited)."""
        limit = self.connection.features.max_query_params or 65535
        return max(1, limit // len(_INSERT_COLUMNS))

    def _insert_plain(self, rows: Sequence[PendingJob], chunk_size: int) -> list[Job]:
        """Insert rows that hold no unique key, returning them with their ids (INSERT ... RETURNING id)."""
        step = min(chunk_size, self.insert_rows_per_statement())
        jobs: list[Job] = []
        with self.connection.cursor() as cursor:
            for start in range(0, len(rows), step):
                chunk = rows[start : start + step]
                sql = (
                    f"INSERT INTO {self.table()} ({', '.join(_INSERT_COLUMNS)}) VALUES "
                    + ", ".join([_PLACEHOLDERS] * len(chunk))
                    + " RETURNING id"
                )
                cursor.execute(sql, self._chunk_params(chunk))
                ids = [pk for (pk,) in cursor.fetchall()]
                jobs.extend(self.saved_jobs(chunk, ids))
        return jobs

    def _write_plain(self, rows: Sequence[PendingJob], chunk_size: int) -> None:
        """Insert rows that hold no unique key, when nobody needs their ids (executemany)."""
        sql = f"INSERT INTO {self.table()} ({', '.join(_INSERT_COLUMNS)}) VALUES {_PLACEHOLDERS}"
        with self.connection.cursor() as cursor:
            for start in range(0, len(rows), chunk_size):
                cursor.executemany(sql, self._params_of(rows[start : start + chunk_size]))

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
                    found[key] = self.saved_job(wanted[key], pk)
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
        with self.connection.cursor() as cursor:
            cursor.execute(sql, self._chunk_params(rows))
            return [(int(pk), str(key)) for pk, key in cursor.fetchall()]

    def _row_params(self, row: PendingJob) -> list[Any]:
        """Return ``row``'s values in _INSERT_COLUMNS order, adapted for this database."""
        adapt_time = self.connection.ops.adapt_datetimefield_value
        adapt_json = self.adapt_json
        return [
            row.state,
            row.queue,
            row.path,
            row.args_json if row.args_json is not None else adapt_json(row.args),
            row.kwargs_json if row.kwargs_json is not None else adapt_json(row.kwargs),
            adapt_json(row.meta) if row.meta else "{}",
            adapt_json(row.tags) if row.tags else "[]",
            row.priority,
            row.subpriority,
            0,
            row.max_attempts,
            "[]",
            held_key(row),
            row.unique_states,
            row.unique_key,
            adapt_time(row.inserted_at),
            adapt_time(row.scheduled_at),
            row.partition_key,
        ]

    def _chunk_params(self, rows: Sequence[PendingJob]) -> list[Any]:
        """Return the values of ``rows`` one after the other, for a multi-row VALUES."""
        return [value for params in self._params_of(rows) for value in params]

    def _params_of(self, rows: Sequence[PendingJob]) -> list[list[Any]]:
        """Return each row's values in _INSERT_COLUMNS order, adapted for this database.

        What a bulk call's rows share (their times, meta, tags) is adapted once.
        """
        adapt_time = self.connection.ops.adapt_datetimefield_value
        adapt_json = self.adapt_json
        # Keyed by identity: every value here is held by a row until this returns.
        shared: dict[int, Any] = {}

        def once(value: Any, adapt: Any) -> Any:
            key = id(value)
            if key not in shared:
                shared[key] = adapt(value)
            return shared[key]

        empty = adapt_json([])
        return [
            [
                row.state,
                row.queue,
                row.path,
                row.args_json if row.args_json is not None else adapt_json(row.args),
                row.kwargs_json if row.kwargs_json is not None else adapt_json(row.kwargs),
                once(row.meta, adapt_json),
                once(row.tags, adapt_json),
                row.priority,
                row.subpriority,
                0,
                row.max_attempts,
                empty,
                held_key(row),
                row.unique_states,
                row.unique_key,
                once(row.inserted_at, adapt_time),
                once(row.scheduled_at, adapt_time),
                row.partition_key,
            ]
            for row in rows
        ]

    #: Whether job_insert_one() can insert and notify in one autocommit statement.
    supports_single_statement_insert = False

    def job_insert_one(self, row: PendingJob, *, notify: bool) -> Job:
        """Insert one plain row (no unique key) and, if ``notify``, wake its queue, in one statement.

        Only for connections in autocommit: the statement is its own transaction.
        """
        raise NotImplementedError

    def adapt_json(self, value: Any) -> Any:
        """Return ``value`` as JSON text to bind to a JSON column (what "[]" and "{}" stand in for)."""
        return self.connection.ops.adapt_json_value(value, None)


__all__ = ["InsertOps", "held_key"]
