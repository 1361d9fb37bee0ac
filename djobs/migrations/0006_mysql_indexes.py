"""MySQL and MariaDB: the indexes the partial indexes and the unique constraint give elsewhere.

Django creates a partial index on MySQL as a plain index on its fields,
without the condition, and skips a conditional UniqueConstraint and, on
MariaDB, every expression index. The plain shapes would make the claim walk
every finished job of a queue, leave unique_key without its unique rule, and
the batch check without an index. So on MySQL only (vendor-conditional: the
model cannot say "this index, shaped this way, on this database"):

- Each partial index whose condition is on ``state`` is rebuilt under its own
  name led by ``state``: ``state = 'available' AND queue = ... ORDER BY
  priority, subpriority, scheduled_at, id`` is then one range of the index in
  order, as the partial index is on PostgreSQL.
- ``unique_key`` gets a plain UNIQUE index. InnoDB allows any number of NULLs
  in it, and a job holds its key (non-NULL) only in the states its uniqueness
  covers (djobs.db.fragments.keep_key), which is the partial index's rule.
- The batch id gets a virtual generated column, ``batch_key``, indexed with
  the state. MariaDB has no expression indexes, and neither MySQL nor MariaDB
  uses one for JSON_EXTRACT written in a query, so djobs.db.mysql names the
  column. It is cut to 64 characters so that no meta can fail an insert.

Other databases: nothing. Reversing restores Django's shapes.
"""

from collections.abc import Callable
from typing import Any

from django.db import migrations

# (index, its columns on MySQL, Django's columns for it on MySQL)
_REBUILT = (
    (
        "djobs_job_claim",
        "state, queue, priority, subpriority, scheduled_at, id",
        "queue, priority, subpriority, scheduled_at, id",
    ),
    ("djobs_job_staged", "state, scheduled_at", "scheduled_at"),
    ("djobs_job_executing", "state, worker_id", "worker_id"),
)

_FORWARD = [
    *(f"ALTER TABLE djobs_job DROP INDEX {name}, ADD INDEX {name} ({mine})" for name, mine, _ in _REBUILT),
    "ALTER TABLE djobs_job ADD UNIQUE INDEX djobs_job_unique_key (unique_key)",
    "ALTER TABLE djobs_job ADD COLUMN batch_key VARCHAR(64) "
    "AS (LEFT(JSON_UNQUOTE(JSON_EXTRACT(meta, '$.batch_id')), 64)) VIRTUAL",
    "ALTER TABLE djobs_job ADD INDEX djobs_job_batch_key (batch_key, state)",
]

_BACKWARD = [
    "ALTER TABLE djobs_job DROP INDEX djobs_job_batch_key",
    "ALTER TABLE djobs_job DROP COLUMN batch_key",
    "ALTER TABLE djobs_job DROP INDEX djobs_job_unique_key",
    *(
        f"ALTER TABLE djobs_job DROP INDEX {name}, ADD INDEX {name} ({django})"
        for name, _, django in _REBUILT
    ),
]


def _run(statements: list[str]) -> Callable[[Any, Any], None]:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "mysql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("djobs", "0005_subpriority"),
    ]

    operations = [
        # Not atomic: MySQL commits each ALTER TABLE at once (no transactional DDL).
        migrations.RunPython(_run(_FORWARD), _run(_BACKWARD), atomic=False, elidable=False),
    ]
