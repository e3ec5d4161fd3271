"""Small messages keep their bytes in the database (YUBIN_BLOB_INLINE_MAX).

A delivery then makes one thing durable, the database's commit, where a file of its own took
another journal commit before it. Blobs stored as files stay files; both are read the same way
(store.blobs). On PostgreSQL the column is stored out of line and uncompressed, as the files were:
mail is written once and read in ranges, and a message's compression would cost every delivery.
"""

import django.db.models.deletion
from django.db import migrations, models


def storage_external(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE store_blobdata ALTER COLUMN data SET STORAGE EXTERNAL")


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0008_subscriptions"),
    ]

    operations = [
        migrations.CreateModel(
            name="BlobData",
            fields=[
                (
                    "blob",
                    models.OneToOneField(
                        db_column="sha256",
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="store.blob",
                    ),
                ),
                ("data", models.BinaryField()),
            ],
        ),
        migrations.RunPython(storage_external, migrations.RunPython.noop),
    ]
