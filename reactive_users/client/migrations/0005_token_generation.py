"""TokenGeneration: a user's logouts, which void the stream tokens issued before them."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("replica", "0004_replica_withdrawn"),
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
