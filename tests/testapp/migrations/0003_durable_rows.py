from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("testapp", "0002_effect")]

    operations = [
        migrations.CreateModel(
            name="Row",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("n", models.IntegerField()),
            ],
        ),
        migrations.CreateModel(
            name="RowVisit",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("row", models.CharField(max_length=64)),
                ("job_id", models.BigIntegerField()),
                ("attempt", models.IntegerField()),
            ],
        ),
    ]
