"""The database's own limit for processing: a bare psycopg loop that claims and completes jobs.

bench/throughput.py runs it on the same table, indexes and rows as djobs, in
the same run, and prints djobs' rate as a share of it. The loop is what any
SKIP LOCKED queue must do at the least: claim a batch (one transaction), then
complete it (another), with no job code, no Python per job and one connection.
"""

from __future__ import annotations

import time

BATCH = 100

# The same claim djobs sends (djobs.db.postgres._claim_sql), less its unique-key
# bookkeeping and the columns it hands to the job.
_CLAIM = """
    WITH picked AS MATERIALIZED (
        SELECT id FROM djobs_job
        WHERE state = 'available' AND queue = %s
        ORDER BY priority, subpriority, scheduled_at, id
        LIMIT %s
        FOR UPDATE SKIP LOCKED
    )
    UPDATE djobs_job AS j
    SET state = 'executing', attempt = j.attempt + 1, attempted_at = now(), worker_id = %s
    FROM picked WHERE j.id = picked.id
    RETURNING j.id
"""

# Fenced as djobs' outcomes are: only where the row is still this worker's attempt.
_COMPLETE = """
    UPDATE djobs_job SET state = 'completed', finished_at = now(), result = 'null'
    WHERE id = ANY(%s) AND state = 'executing' AND worker_id = %s
"""


def claim_complete(
    url: str, queue: str, *, synchronous_commit: bool, prepare: bool = True
) -> tuple[int, float]:
    """Claim and complete every available job of ``queue`` in batches; return (jobs, seconds).

    ``synchronous_commit`` off matches djobs' dispatcher under
    DJOBS["ASYNC_COMMIT"] (its default), so both pay the same commit. ``prepare``
    False: no named prepared statements (behind a transaction pooler).
    """
    import psycopg

    worker = "ceiling"
    done = 0
    with psycopg.connect(url) as conn:
        conn.execute(f"SET synchronous_commit = {'on' if synchronous_commit else 'off'}")
        conn.commit()
        start = time.perf_counter()
        while True:
            with conn.transaction():
                ids = [row[0] for row in conn.execute(_CLAIM, [queue, BATCH, worker], prepare=prepare)]
            if not ids:
                break
            with conn.transaction():
                conn.execute(_COMPLETE, [ids, worker], prepare=prepare)
            done += len(ids)
        return done, time.perf_counter() - start
