from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("replica", "0003_replica_username_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="replica",
            name="truncated",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
    ]
