"""MySQL and MariaDB: no index of its own for waiting workflow steps.

Elsewhere ``djobs_job_waiting`` is a partial index over the waiting rows
only. MySQL has no partial indexes, so Django made it a plain ``(state,
queue)`` index over every job, which costs an entry change on every state
change of every job. There the claim index (0006: led by ``state``, then
``queue``) already serves ``state = 'waiting'`` counts per queue, so this one
is dropped. Other databases: nothing. Reversing restores Django's shape.
"""

from collections.abc import Callable
from typing import Any

from django.db import migrations


def _run(sql: str) -> Callable[[Any, Any], None]:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "mysql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("djobs", "0008_flow_control"),
    ]

    operations = [
        migrations.RunPython(
            _run("ALTER TABLE djobs_job DROP INDEX djobs_job_waiting"),
            _run("ALTER TABLE djobs_job ADD INDEX djobs_job_waiting (state, queue)"),
            atomic=False,
            elidable=False,
        ),
    ]
