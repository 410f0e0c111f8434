from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("replica", "0005_token_generation"),
    ]

    operations = [
        migrations.AddField(
            model_name="replica",
            name="truncated",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
    ]
