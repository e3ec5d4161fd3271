"""The delivery log's sender and recipient lose their indexes.

The admin panel finds log lines by a part of an address or by its domain (icontains, iendswith:
LIKE '%…%'), which no B-tree index serves; each delivery still wrote two index pages per log
line for them (four more indexes on PostgreSQL, with the varchar_pattern_ops copies). The
indexes are dropped by name: Django would rebuild the whole table on SQLite to drop them.
"""

from django.db import migrations, models

INDEXES = ("store_deliverylog_sender_62db34cb", "store_deliverylog_recipient_32deb089")
COLUMNS = {"store_deliverylog_sender_62db34cb": "sender", "store_deliverylog_recipient_32deb089": "recipient"}


def _drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for name in INDEXES:
        if vendor == "postgresql":
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}_like"')
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def _create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for name in INDEXES:
        column = COLUMNS[name]
        schema_editor.execute(f'CREATE INDEX "{name}" ON "store_deliverylog" ("{column}")')
        if vendor == "postgresql":
            schema_editor.execute(f'CREATE INDEX "{name}_like" ON "store_deliverylog" ("{column}" varchar_pattern_ops)')


class Migration(migrations.Migration):
    dependencies = [("store", "0009_blob_data")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="deliverylog",
                    name="recipient",
                    field=models.CharField(blank=True, default="", max_length=320),
                ),
                migrations.AlterField(
                    model_name="deliverylog",
                    name="sender",
                    field=models.CharField(blank=True, default="", max_length=320),
                ),
            ],
            database_operations=[migrations.RunPython(_drop, _create)],
        )
    ]
