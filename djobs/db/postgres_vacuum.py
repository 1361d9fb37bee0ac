"""PostgreSQL: the jobs table's dead row versions, and a VACUUM of it.

Every claim and every outcome leaves a dead version of the job's row, and its
entry in the claim index stays until a VACUUM removes it. The claim walks the
index from its head, where those entries pile up: without VACUUM a queue
that drained a million jobs reads thousands of index pages per claim.
djobs.maintenance.vacuumer calls these where autovacuum has not kept up.
"""

from __future__ import annotations

from .base import DatabaseOps

# INDEX_CLEANUP ON: the index entries are the point (AUTO may skip them when few
# heap pages hold dead rows). TRUNCATE false: shortening the file would take an
# ACCESS EXCLUSIVE lock, which stops every claim while it waits for it.
# SKIP_LOCKED: another VACUUM (autovacuum, another worker's) is at it already.
_VACUUM_SQL = "VACUUM (INDEX_CLEANUP ON, TRUNCATE false, SKIP_LOCKED) djobs_job"


class PostgresVacuum(DatabaseOps):
    """Dead-row statistics and VACUUM for the jobs table."""

    supports_vacuum = True

    def job_table_dead_rows(self) -> tuple[int, int, bool]:
        with self.connection.cursor() as cursor:
            # The statistics counters, read from shared memory: no table is read.
            cursor.execute(
                """SELECT pg_stat_get_dead_tuples(c.oid), pg_stat_get_live_tuples(c.oid),
                          EXISTS (SELECT 1 FROM pg_stat_progress_vacuum AS p WHERE p.relid = c.oid)
                   FROM pg_class AS c WHERE c.oid = to_regclass('djobs_job')"""
            )
            row = cursor.fetchone()
        return (int(row[0]), int(row[1]), bool(row[2])) if row else (0, 0, False)

    def job_table_can_vacuum(self) -> bool:
        with self.connection.cursor() as cursor:
            # The owner (or a member of its role) and superusers may; from PostgreSQL
            # 17 the MAINTAIN privilege too.
            cursor.execute(
                """SELECT CASE
                       WHEN pg_has_role(c.relowner, 'USAGE') THEN true
                       WHEN (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN true
                       -- CASE, not OR: before 17 the privilege's name is an error.
                       WHEN current_setting('server_version_num')::int >= 170000
                           THEN has_table_privilege(c.oid, 'MAINTAIN')
                       ELSE false END
                   FROM pg_class AS c WHERE c.oid = to_regclass('djobs_job')"""
            )
            row = cursor.fetchone()
        return bool(row and row[0])

    def job_table_vacuum(self) -> None:
        connection = self.connection
        if connection.in_atomic_block:
            raise RuntimeError(
                "VACUUM cannot run inside a transaction: call job_table_vacuum outside atomic()"
            )
        with connection.cursor() as cursor:
            cursor.execute(_VACUUM_SQL)


__all__ = ["PostgresVacuum"]
