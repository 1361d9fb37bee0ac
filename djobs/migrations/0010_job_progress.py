import django.utils.timezone
from django.db import migrations, models

import djobs.durable.models


class Migration(migrations.Migration):
    dependencies = [
        ("djobs", "0009_mysql_waiting_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="JobProgress",
            fields=[
                ("job_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("steps", models.JSONField(blank=True, default=djobs.durable.models._empty_list)),
                ("iterations", models.JSONField(blank=True, default=djobs.durable.models._empty_dict)),
                ("interruptions", models.PositiveIntegerField(default=0)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "verbose_name": "job progress",
                "verbose_name_plural": "job progress",
                "db_table": "djobs_job_progress",
            },
        ),
    ]
