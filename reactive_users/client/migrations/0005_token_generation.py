"""TokenGeneration: a user's logouts, which void the stream tokens issued before them."""

from django.db import migrations, models

from reactive_users.client.labels import installed_label


class Migration(migrations.Migration):
    dependencies = [
        (installed_label(), "0004_replica_withdrawn"),
    ]

    operations = [
        migrations.CreateModel(
            name="TokenGeneration",
            fields=[
                ("user_id", models.PositiveBigIntegerField(primary_key=True, serialize=False)),
                ("value", models.PositiveBigIntegerField(default=0)),
            ],
        ),
    ]
