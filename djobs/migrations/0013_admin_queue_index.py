"""PostgreSQL: finished jobs of one queue, newest first, from an index (the admin's queue filter).

The job list filtered by queue shows the newest jobs of that queue in every
state. The running states each have a partial index that holds their queue
(the claim, the stager, rescue, migration 0011), but the finished jobs, most
of the table, had none that leads with it: a rare queue's list read the whole
table (two seconds at ten million jobs). ``djobs_job_finished_queue`` holds
the finished jobs by (queue, state, id), so that list, and a queue with a
finished state, is a short backward range read
(``djobs.db.admin_reads.job_ids_across_states`` merges it with the other
states' indexes).

Only finished jobs: a job gets one entry in its life, when it finishes; the
enqueue and the claim write nothing more.

Built ``CONCURRENTLY`` (the migration is not atomic), so writers are not held
off while it builds on a big table. A build that fails leaves an invalid index:
drop it and migrate again. Other databases: nothing.
"""

from typing import Any

from django.db import migrations

NAME = "djobs_job_finished_queue"
CREATE = (
    f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{NAME}" ON "djobs_job" (queue, state, id) '
    "WHERE state IN ('cancelled', 'completed', 'discarded')"
)
DROP = f'DROP INDEX CONCURRENTLY IF EXISTS "{NAME}"'


def _run(sql: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("djobs", "0012_worker_sessions"),
    ]

    operations = [
        migrations.RunPython(_run(CREATE), _run(DROP), elidable=False),
    ]
