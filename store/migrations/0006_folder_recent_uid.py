from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0005_pop3_wire_size"),
    ]

    operations = [
        migrations.AddField(
            model_name="folder",
            name="recent_uid",
            field=models.BigIntegerField(default=1),
        ),
        # Mail already in a folder when this lands has been seen by sessions: none of it is \Recent.
        migrations.RunSQL("UPDATE store_folder SET recent_uid = uid_next", migrations.RunSQL.noop),
    ]
