"""Inserting job rows on MySQL and MariaDB, where ON CONFLICT and (on MySQL) RETURNING are missing.

Unique rows: MariaDB (10.5+) inserts them with ``INSERT IGNORE ... RETURNING``,
which returns the rows inserted and skips the ones whose key is held. IGNORE
would also turn a value that does not fit into a warning and a clipped value;
so any warning beyond the skipped duplicates rolls the statement's
transaction back with an error naming it: nothing half written. MySQL 8 has
no RETURNING: each unique row is its own INSERT in a savepoint, and a
duplicate-key error there means the key is held.

Plain rows: Django's bulk_create reads the ids back with RETURNING on MariaDB;
on MySQL 8 the rows go one INSERT each, since the ids of a multi-row INSERT are
consecutive only under innodb_autoinc_lock_mode 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from .inserts import _INSERT_COLUMNS, _PLACEHOLDERS, InsertOps

if TYPE_CHECKING:
    from ..enqueue import PendingJob
    from ..models import Job

# MySQL's error number for a duplicate key.
ER_DUP_ENTRY = 1062

_INSERT = f"INSERT INTO djobs_job ({', '.join(_INSERT_COLUMNS)}) VALUES "


class MySQLInserts(InsertOps):
    """The inserting half of MySQLOps."""

    def _returns_from_insert(self) -> bool:
        return bool(self.connection.features.can_return_columns_from_insert)

    def _insert_plain(self, rows: Sequence[PendingJob], chunk_size: int) -> list[Job]:
        if self._returns_from_insert():
            return super()._insert_plain(rows, chunk_size)
        jobs = []
        with transaction.atomic(using=self.alias, savepoint=False), self.connection.cursor() as cursor:
            for row in rows:
                cursor.execute(_INSERT + _PLACEHOLDERS, self._row_params(row))
                jobs.append(self._saved(row, int(cursor.lastrowid)))
        return jobs

    def _saved(self, row: PendingJob, pk: int) -> Job:
        job = self._new_job(row)
        job.pk = pk
        job._state.adding = False
        job._state.db = self.alias
        return job

    def _insert_ignoring_conflicts(self, rows: Sequence[PendingJob]) -> list[tuple[int, str]]:
        if not self._returns_from_insert():
            return self._insert_one_by_one(rows)
        params: list[Any] = []
        for row in rows:
            params.extend(self._row_params(row))
        sql = "INSERT IGNORE" + _INSERT[len("INSERT") :] + ", ".join([_PLACEHOLDERS] * len(rows))
        with transaction.atomic(using=self.alias), self.connection.cursor() as cursor:
            cursor.execute(sql + " RETURNING id, unique_key", params)
            inserted = [(int(pk), str(key)) for pk, key in cursor.fetchall()]
            self._refuse_other_warnings(cursor, duplicates=len(rows) - len(inserted))
        return inserted

    def _refuse_other_warnings(self, cursor: Any, *, duplicates: int) -> None:
        """Raise if INSERT IGNORE warned about anything but the skipped duplicates (rolls back)."""
        if self.connection.connection.warning_count() <= duplicates:
            return
        cursor.execute("SHOW WARNINGS")
        other = [(code, message) for _level, code, message in cursor.fetchall() if code != ER_DUP_ENTRY]
        if other:
            code, message = other[0]
            raise IntegrityError(
                f"djobs refused to insert unique jobs: MySQL warned {code} {message!r}. "
                "A value does not fit its column; fix the job's arguments or options."
            )

    def _insert_one_by_one(self, rows: Sequence[PendingJob]) -> list[tuple[int, str]]:
        inserted = []
        with self.connection.cursor() as cursor:
            for row in rows:
                try:
                    with transaction.atomic(using=self.alias):
                        cursor.execute(_INSERT + _PLACEHOLDERS, self._row_params(row))
                except IntegrityError as exc:
                    if exc.args and exc.args[0] == ER_DUP_ENTRY:
                        continue  # the key is held: the caller reads the holder
                    raise
                assert row.unique_key is not None
                inserted.append((int(cursor.lastrowid), row.unique_key))
        return inserted


__all__ = ["MySQLInserts"]
