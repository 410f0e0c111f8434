from django.db import migrations, models

from reactive_users.client.labels import installed_label


class Migration(migrations.Migration):
    dependencies = [
        (installed_label(), "0005_token_generation"),
    ]

    operations = [
        migrations.AddField(
            model_name="replica",
            name="truncated",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
    ]
