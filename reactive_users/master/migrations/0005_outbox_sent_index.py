from django.db import migrations, models

from reactive_users.master.labels import installed_label


class Migration(migrations.Migration):
    dependencies = [
        (installed_label(), "0004_outbox_withdrawn_action"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="outboxevent",
            index=models.Index(
                condition=models.Q(("sent_at__isnull", False)),
                fields=["created_at"],
                name="reactive_master_outbox_sent",
            ),
        ),
    ]
