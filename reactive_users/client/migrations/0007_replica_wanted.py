from django.db import migrations, models

from reactive_users.client.labels import installed_label


class Migration(migrations.Migration):
    dependencies = [
        (installed_label(), "0006_replica_truncated"),
    ]

    operations = [
        migrations.AddField(
            model_name="replica",
            name="wanted",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
