"""PostgreSQL: the dashboard's counts read the partial indexes alone (index-only scans).

The dashboard counts jobs per queue and state, and charts finished jobs per
minute. Each state already has a partial index (the claim, the stager,
rescue, the pruner's finished index), but three of them lack the queue (and
the stager the state), so every count read the table's rows too: thousands of
random heap reads per refresh on a table of millions of jobs. Here they carry
those columns last: the same entries, a few bytes wider, in the same order
for the queries that use them, so the write path adds no index entry.

- ``djobs_job_finished`` (state, finished_at, queue)
- ``djobs_job_executing`` (worker_id, queue)
- ``djobs_job_staged`` (scheduled_at, state, queue)

Key columns rather than INCLUDE: PostgreSQL deduplicates equal keys of a
B-tree (one worker's executing jobs, a batch of jobs completed in one
statement) only when the index has no INCLUDE columns; with INCLUDE the three
indexes grew eightfold and a claim-and-complete cycle wrote about 25% more WAL.

The model keeps Django's shapes (MySQL has its own, migration 0006); the names
are the same. Each index is rebuilt in the migration's transaction, which
holds off writes to djobs_job meanwhile (seconds per million jobs). Other
databases: nothing. Reversing restores Django's shapes.
"""

from collections.abc import Callable
from typing import Any

from django.db import migrations

# (name, Django's columns, the columns added, condition)
_INDEXES = (
    ("djobs_job_finished", "state, finished_at", "queue", "state IN ('cancelled', 'completed', 'discarded')"),
    ("djobs_job_executing", "worker_id", "queue", "state = 'executing'"),
    ("djobs_job_staged", "scheduled_at", "state, queue", "state IN ('retryable', 'scheduled')"),
)


def _rebuild(wider: bool) -> Callable[[Any, Any], None]:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for name, columns, added, condition in _INDEXES:
            keys = f"{columns}, {added}" if wider else columns
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
            schema_editor.execute(f'CREATE INDEX "{name}" ON "djobs_job" ({keys}) WHERE {condition}')

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("djobs", "0010_job_progress"),
    ]

    operations = [
        migrations.RunPython(_rebuild(wider=True), _rebuild(wider=False), elidable=False),
    ]
