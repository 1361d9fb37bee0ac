"""PostgreSQL: the dashboard's counts read the partial indexes alone (index-only scans).

The dashboard counts jobs per queue and state, and charts finished jobs per
minute. Each state already has a partial index (the claim, the stager,
rescue, the pruner's finished index), but three of them lack the queue (and
the stager the state), so every count read the table's rows too: thousands of
random heap reads per refresh on a table of millions of jobs. Here they carry
those columns as INCLUDE columns: the same entries, a few bytes wider, so the
write path adds no index entry, and the counts become index-only scans.

- ``djobs_job_finished`` (state, finished_at) INCLUDE (queue)
- ``djobs_job_executing`` (worker_id) INCLUDE (queue)
- ``djobs_job_staged`` (scheduled_at) INCLUDE (state, queue)

The model keeps Django's shapes (a Django ``include`` would raise models.W040
on SQLite and MySQL, which have no covering indexes); the names are the same.
Each index is rebuilt in the migration's transaction, which holds off writes to
djobs_job meanwhile (seconds per million jobs). Other databases: nothing.
Reversing restores Django's shapes.
"""

from collections.abc import Callable
from typing import Any

from django.db import migrations

# (name, columns, INCLUDE columns, condition)
_INDEXES = (
    ("djobs_job_finished", "state, finished_at", "queue", "state IN ('cancelled', 'completed', 'discarded')"),
    ("djobs_job_executing", "worker_id", "queue", "state = 'executing'"),
    ("djobs_job_staged", "scheduled_at", "state, queue", "state IN ('retryable', 'scheduled')"),
)


def _rebuild(covering: bool) -> Callable[[Any, Any], None]:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for name, columns, include, condition in _INDEXES:
            extra = f" INCLUDE ({include})" if covering else ""
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
            schema_editor.execute(
                f'CREATE INDEX "{name}" ON "djobs_job" ({columns}){extra} WHERE {condition}'
            )

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("djobs", "0010_job_progress"),
    ]

    operations = [
        migrations.RunPython(_rebuild(covering=True), _rebuild(covering=False), elidable=False),
    ]
