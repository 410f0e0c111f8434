"""Replica.username: the username the master gave, so that a parked user gets it back."""

from typing import Any

from django.db import migrations, models

from reactive_users.client.labels import installed_label


def copy_usernames(apps: Any, schema_editor: Any) -> None:
    """Existing replicas: the local username is the master's, unless parked ('!...')."""
    replica_model = apps.get_model(installed_label(), "Replica")
    for replica in replica_model.objects.filter(user__isnull=False).select_related("user"):
        if not replica.user.username.startswith("!"):
            replica.username = replica.user.username
            replica.save(update_fields=["username"])


class Migration(migrations.Migration):
    dependencies = [(installed_label(), "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="replica",
            name="username",
            field=models.CharField(blank=True, default="", max_length=150),
        ),
        migrations.RunPython(copy_usernames, migrations.RunPython.noop),
    ]
