"""The database sessions of a worker's atomic jobs, which the rescuer ends (djobs.db.sessions)."""

from django.db import migrations, models

import djobs.models


class Migration(migrations.Migration):
    dependencies = [("djobs", "0011_admin_covering_indexes")]

    operations = [
        migrations.AddField(
            model_name="workerprocess",
            name="sessions",
            field=models.JSONField(blank=True, default=djobs.models._empty_dict),
        ),
    ]
