"""Inserting job rows on MySQL and MariaDB, where ON CONFLICT and (on MySQL) RETURNING are missing.

Unique rows: MariaDB (10.5+) inserts them with ``INSERT IGNORE ... RETURNING``,
which returns the rows inserted and skips the ones whose key is held. IGNORE
would also turn a value that does not fit into a warning and a clipped value;
so any warning beyond the skipped duplicates rolls the statement's
transaction back with an error naming it: nothing half written. MySQL 8 has
no RETURNING: each unique row is its own INSERT in a savepoint, and a
duplicate-key error there means the key is held.

MariaDB keeps lists and dicts at most 31 levels deep (its json_valid() CHECK
refuses deeper; djobs allows 100 elsewhere): a refused insert is explained by naming
the field and the fix.

Plain rows: one multi-row ``INSERT ... RETURNING id`` per chunk on MariaDB
(RETURNING gives the ids in the order of the VALUES); on MySQL 8 the rows go
one INSERT each, since the ids of a multi-row INSERT are consecutive only
under innodb_autoinc_lock_mode 0 or 1.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, OperationalError, transaction

from ..exceptions import UnstorableValueError
from .inserts import _INSERT_COLUMNS, _PLACEHOLDERS, InsertOps

if TYPE_CHECKING:
    from ..enqueue import PendingJob
    from ..models import Job

# MySQL's error numbers for a duplicate key and a lock wait timeout; MariaDB's for a failed CHECK.
ER_DUP_ENTRY = 1062
ER_LOCK_WAIT_TIMEOUT = 1205
ER_CONSTRAINT_FAILED = 4025
#: How deep MariaDB's json_valid() lets lists and dicts nest (its JSON_DEPTH of 32
#: counts the innermost values as a level).
MARIADB_JSON_DEPTH = 31


def _key(row: PendingJob) -> str:
    return row.unique_key or ""


def json_depth(value: Any) -> int:
    """Return how deep lists and dicts nest in ``value`` (a scalar is 0, ``[]`` is 1)."""
    if isinstance(value, dict):
        return 1 + max(map(json_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(json_depth, value), default=0)
    return 0


_INSERT = f"INSERT INTO djobs_job ({', '.join(_INSERT_COLUMNS)}) VALUES "


class MySQLInserts(InsertOps):
    """The inserting half of MySQLOps."""

    @property
    def json_max_depth(self) -> int | None:
        """How deep JSON may nest in a column here, where it is less than djobs allows."""
        return MARIADB_JSON_DEPTH if self.connection.mysql_is_mariadb else None  # type: ignore[attr-defined]

    def job_insert_many(self, rows: Sequence[PendingJob], *, chunk_size: int) -> list[Job]:
        try:
            return super().job_insert_many(rows, chunk_size=chunk_size)
        except IntegrityError as exc:
            self._explain_refused(rows, exc)
            raise

    def job_insert_rows(self, rows: Sequence[PendingJob], *, chunk_size: int) -> int:
        try:
            return super().job_insert_rows(rows, chunk_size=chunk_size)
        except IntegrityError as exc:
            self._explain_refused(rows, exc)
            raise

    def _explain_refused(self, rows: Sequence[PendingJob], exc: IntegrityError) -> None:
        """Raise UnstorableValueError naming the first value nested deeper than MariaDB keeps."""
        limit = self.json_max_depth
        if limit is None or not exc.args or exc.args[0] != ER_CONSTRAINT_FAILED:
            return
        for row in rows:
            for field in ("args", "kwargs", "meta", "tags"):
                depth = json_depth(getattr(row, field))
                if depth > limit:
                    shown = json.dumps(getattr(row, field))[:60]
                    raise UnstorableValueError(
                        f"The {field} of a {row.path} job ({shown}...) nest lists/dicts {depth} levels "
                        f"deep; MariaDB keeps JSON at most {limit} levels deep, so nothing was written. "
                        "Flatten the data, or store it elsewhere and pass its id."
                    ) from exc

    def _returns_from_insert(self) -> bool:
        return bool(self.connection.features.can_return_columns_from_insert)

    supports_single_statement_insert = True

    def job_insert_one(self, row: PendingJob, *, notify: bool) -> Job:
        # One autocommit INSERT instead of four round trips (autocommit off, INSERT,
        # COMMIT, autocommit on); there is no NOTIFY to send, so ``notify`` asks nothing.
        with self.connection.cursor() as cursor:
            cursor.execute(_INSERT + _PLACEHOLDERS, self._row_params(row))
            return self.saved_job(row, int(cursor.lastrowid))

    def _insert_plain(self, rows: Sequence[PendingJob], chunk_size: int) -> list[Job]:
        jobs: list[Job] = []
        with transaction.atomic(using=self.alias, savepoint=False), self.connection.cursor() as cursor:
            if self._returns_from_insert():
                # One multi-row INSERT ... RETURNING per chunk, from the rows' values
                # directly: bulk_create would prepare every field of every instance again.
                for start in range(0, len(rows), chunk_size):
                    chunk = rows[start : start + chunk_size]
                    cursor.execute(
                        _INSERT + ", ".join([_PLACEHOLDERS] * len(chunk)) + " RETURNING id",
                        self._chunk_params(chunk),
                    )
                    ids = [pk for (pk,) in cursor.fetchall()]
                    jobs.extend(self.saved_jobs(chunk, ids))
                return jobs
            for row, params in zip(rows, self._params_of(rows), strict=True):
                cursor.execute(_INSERT + _PLACEHOLDERS, params)
                jobs.append(self.saved_job(row, int(cursor.lastrowid)))
        return jobs

    def _write_plain(self, rows: Sequence[PendingJob], chunk_size: int) -> None:
        # No ids wanted: mysqlclient's executemany sends one multi-row INSERT per
        # chunk on MySQL 8 too, whatever its auto-increment lock mode.
        with transaction.atomic(using=self.alias, savepoint=False), self.connection.cursor() as cursor:
            for start in range(0, len(rows), chunk_size):
                cursor.executemany(_INSERT + _PLACEHOLDERS, self._params_of(rows[start : start + chunk_size]))

    def _insert_ignoring_conflicts(self, rows: Sequence[PendingJob]) -> list[tuple[int, str]]:
        # Two transactions inserting overlapping keys in different orders can
        # deadlock in InnoDB (a duplicate waits with a gap lock that the other's
        # next insert then waits for: 2 runs in 6 of the concurrent bulk test), and
        # a deadlock rolls back the caller's whole transaction. In key order they
        # take the locks in one order and never do. So: first in the order given
        # (ids follow it, as elsewhere) without waiting for any lock; if a lock is
        # held, that statement alone is undone and the rows go again in key order.
        if not self._returns_from_insert():
            return self._insert_one_by_one(sorted(rows, key=_key))
        if self.connection.mysql_is_mariadb and len(rows) > 1:  # type: ignore[attr-defined]
            try:
                return self._insert_ignore(rows, prefix="SET STATEMENT innodb_lock_wait_timeout = 0 FOR ")
            except OperationalError as exc:
                if not exc.args or exc.args[0] != ER_LOCK_WAIT_TIMEOUT:
                    raise
        return self._insert_ignore(sorted(rows, key=_key))

    def _insert_ignore(self, rows: Sequence[PendingJob], prefix: str = "") -> list[tuple[int, str]]:
        params = self._chunk_params(rows)
        sql = prefix + "INSERT IGNORE" + _INSERT[len("INSERT") :] + ", ".join([_PLACEHOLDERS] * len(rows))
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
