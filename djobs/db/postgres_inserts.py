"""PostgreSQL inserts: the single enqueue as one prepared statement, bulks through COPY.

A single enqueue outside a transaction is one round trip: the insert and its
NOTIFY in one statement, prepared once per connection
(djobs.db.postgres_prepared), through one driver cursor kept per connection.
Small inserts stay a multi-row INSERT; from ``_COPY_FROM`` rows they go
through COPY (djobs.db.postgres_copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError

from ..serialization import compact_json
from . import postgres_prepared as prepared
from .inserts import _INSERT_COLUMNS as INSERT_COLUMNS
from .inserts import InsertOps
from .postgres_wakeups import NOTIFY_CHANNEL

if TYPE_CHECKING:
    from ..enqueue import PendingJob
    from ..models import Job

_INSERT_CASTS = {"args": "jsonb", "kwargs": "jsonb", "meta": "jsonb", "tags": "jsonb", "errors": "jsonb"}

# The single insert, built once. JSON arrives as text (adapt_json), cast here.
_INSERT_ONE = (
    f"INSERT INTO djobs_job ({', '.join(INSERT_COLUMNS)}) VALUES ("
    + ", ".join(f"%s::{_INSERT_CASTS[c]}" if c in _INSERT_CASTS else "%s" for c in INSERT_COLUMNS)
    + ") RETURNING id"
)
_INSERT_ONE_NOTIFY = f"WITH ins AS ({_INSERT_ONE}) SELECT ins.id, pg_notify(%s, %s) FROM ins"
# Below this many rows a multi-row INSERT beats reserving ids and opening a COPY.
_COPY_FROM = 50


class PostgresInserts(InsertOps):
    """The inserting statements of PostgresOps (mixed into it, before the shared InsertOps)."""

    def notify_inserted(self, queues: Sequence[str]) -> None:
        # Sent inside the enqueuing transaction: PostgreSQL delivers it at commit,
        # and never if the transaction rolls back.
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_notify(%s, q) FROM unnest(%s::text[]) AS q",
                [NOTIFY_CHANNEL, list(queues)],
            )

    def _insert_plain(self, rows: Sequence[PendingJob], chunk_size: int) -> list[Job]:
        # Small inserts stay a plain INSERT (one round trip); bulks go through COPY.
        if len(rows) < _COPY_FROM:
            return super()._insert_plain(rows, chunk_size)
        from .postgres_copy import copy_rows, reserve_ids

        with self._server_bound_cursor() as cursor:
            ids = reserve_ids(cursor, len(rows))
            copy_rows(cursor.cursor, rows, ids, chunk_size)
        return self.saved_jobs(rows, ids)

    def _write_plain(self, rows: Sequence[PendingJob], chunk_size: int) -> None:
        if len(rows) < _COPY_FROM:
            super()._write_plain(rows, chunk_size)
            return
        from .postgres_copy import copy_rows

        with self._server_bound_cursor() as cursor:
            copy_rows(cursor.cursor, rows, None, chunk_size)

    def _server_bound_cursor(self) -> Any:
        """Return a Django cursor whose parameters travel apart from the SQL (no client-side quoting).

        Django's wrapper stays around it, so query logging, execute wrappers and
        APM instrumentation see the statement as any other.
        """
        import psycopg

        wrapper: Any = self.connection
        with wrapper.wrap_database_errors:
            wrapper.ensure_connection()
            return wrapper._prepare_cursor(psycopg.Cursor(wrapper.connection))

    supports_single_statement_insert = True

    def job_insert_one(self, row: PendingJob, *, notify: bool) -> Job:
        # One round trip instead of four (BEGIN, INSERT, NOTIFY, COMMIT): on an
        # idle machine each round trip can cost a millisecond of wake-up, and this
        # is the path of every single enqueue made outside a transaction. The
        # statement is a constant and its parameters are bound by the server:
        # quoting eighteen values in Python cost more than the rest of the call.
        params = self._row_params(row)
        if notify:
            params += [NOTIFY_CHANNEL, row.queue]
        sql = _INSERT_ONE_NOTIFY if notify else _INSERT_ONE
        cursor = self._single_insert_cursor()
        raw = cursor.cursor.connection
        saved = raw.prepare_threshold
        # Prepared at its first run on a connection: parsing and planning this
        # insert cost the server more than executing it (djobs.db.postgres_prepared).
        # Not while Django logs queries (DEBUG, assertNumQueries): it logs a
        # prepared statement's SQL as None.
        if cursor.db.queries_logged:
            raw.prepare_threshold = None
        else:
            raw.prepare_threshold = prepared.prepared_here(0 if saved is None else saved)
        try:
            try:
                cursor.execute(sql, params)
            except DatabaseError as exc:
                # In autocommit a failed statement wrote nothing: run it again, prepared afresh.
                if not (prepared.stale(exc.__cause__) and prepared.forget(raw)):
                    raise
                cursor.execute(sql, params)
        finally:
            raw.prepare_threshold = saved
        # The driver's own fetch: Django's wrapper would wrap it in an error
        # translator per call, and reading a row already received cannot fail.
        pk = cursor.cursor.fetchone()[0]
        return self.saved_job(row, pk)

    def _single_insert_cursor(self) -> Any:
        """Return a server-bound cursor for the single insert, kept open for the next one.

        One driver cursor per connection, kept on Django's wrapper (a thread's
        own) and wrapped anew each time, so query logging and execute wrappers
        see every statement: opening and closing a cursor per enqueue was a
        tenth of the call's Python.
        """
        wrapper: Any = self.connection
        with wrapper.wrap_database_errors:
            wrapper.ensure_connection()
            raw = wrapper.connection
            kept = getattr(wrapper, "_djobs_single_cursor", None)
            if kept is None or kept[0] is not raw or kept[1].closed:
                import psycopg

                kept = (raw, psycopg.Cursor(raw))
                wrapper._djobs_single_cursor = kept
            return wrapper._prepare_cursor(kept[1])

    def adapt_json(self, value: Any) -> Any:
        # JSON text, cast by the statement (::jsonb): the same as the JSON a bulk call serialised once.
        return compact_json(value)
