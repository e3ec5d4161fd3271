"""Substring index for IMAP SEARCH (RFC 3501 §6.4.4): SQLite FTS5 trigram table, PostgreSQL pg_trgm."""

from django.db import migrations

COLUMNS = ("subject", "from_display", "to_display", "cc_display", "bcc_display", "search_headers", "search_body")
TABLE = "store_message"
FTS = "store_message_fts"


def _cols(prefix=""):
    return ", ".join(prefix + c for c in COLUMNS)


SQLITE_FORWARD = [
    f"CREATE VIRTUAL TABLE {FTS} USING fts5({_cols()}, content='{TABLE}', content_rowid='id', "
    "tokenize='trigram case_sensitive 0')",
    f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}(rowid, {_cols()}) VALUES (new.id, {_cols('new.')}); END",
    f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, {_cols()}) VALUES ('delete', old.id, {_cols('old.')}); END",
    f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF {_cols()} ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, {_cols()}) VALUES ('delete', old.id, {_cols('old.')}); "
    f"INSERT INTO {FTS}(rowid, {_cols()}) VALUES (new.id, {_cols('new.')}); END",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS {FTS}_insert",
    f"DROP TRIGGER IF EXISTS {FTS}_delete",
    f"DROP TRIGGER IF EXISTS {FTS}_update",
    f"DROP TABLE IF EXISTS {FTS}",
]
POSTGRES_FORWARD = ["CREATE EXTENSION IF NOT EXISTS pg_trgm"] + [
    f"CREATE INDEX IF NOT EXISTS {TABLE}_{c}_trgm ON {TABLE} USING gin ({c} gin_trgm_ops)" for c in COLUMNS
]
POSTGRES_BACKWARD = [f"DROP INDEX IF EXISTS {TABLE}_{c}_trgm" for c in COLUMNS]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("store", "0002_smtp_vacation")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        )
    ]
