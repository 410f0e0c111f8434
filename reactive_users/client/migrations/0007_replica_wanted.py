from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("replica", "0006_replica_truncated"),
    ]

    operations = [
        migrations.AddField(
            model_name="replica",
            name="wanted",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
