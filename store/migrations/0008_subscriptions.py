"""Subscriptions move from a flag on the folder to a list of their own.

RFC 3501 §6.3.6: a server MUST NOT remove a name from the subscription list because its mailbox
no longer exists; with the flag on the folder row, DELETE took the subscription with it. Every
folder subscribed before keeps its name on the list.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def subscriptions_copy(apps, schema_editor):
    Folder = apps.get_model("store", "Folder")
    Subscription = apps.get_model("store", "Subscription")
    rows = Folder.objects.filter(subscribed=True).values_list("account_id", "name")
    Subscription.objects.bulk_create(
        (Subscription(account_id=account_id, name=name) for account_id, name in rows.iterator()), batch_size=1000
    )


def subscriptions_restore(apps, schema_editor):
    Folder = apps.get_model("store", "Folder")
    Subscription = apps.get_model("store", "Subscription")
    Folder.objects.update(subscribed=False)
    for account_id, name in Subscription.objects.values_list("account_id", "name").iterator():
        Folder.objects.filter(account_id=account_id, name=name).update(subscribed=True)


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0007_search_index_after_commit"),
    ]

    operations = [
        migrations.CreateModel(
            name="Subscription",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=1000)),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="subscriptions",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["account", "name"],
                "unique_together": {("account", "name")},
            },
        ),
        migrations.RunPython(subscriptions_copy, subscriptions_restore),
        migrations.RemoveField(
            model_name="folder",
            name="subscribed",
        ),
    ]
