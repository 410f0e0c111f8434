from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0004_outbox_withdrawn_action"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="outboxevent",
            index=models.Index(
                condition=models.Q(("sent_at__isnull", False)),
                fields=["created_at"],
                name="users_outbox_sent",
            ),
        ),
    ]
