"""The SQLite search index is filled after the delivery commit, not by a trigger inside it.

Migration 0003 indexed every message in the transaction that inserted it (a trigger on
store_message): the FTS5 trigram tokenizing of the search text then sat on the critical path of
every delivery, before the SMTP 250 (most of the cost of a 64 KB message). Now
store.services.search_index.search_index_catch_up indexes committed messages in batches, and
store_message_fts_state keeps the high-water mark: every message with id <= indexed_upto is in
the index, the ones above it are the not yet indexed tail, which SEARCH scans directly
(store.selectors.imap.imap_text_search). SQLite writers are serialised and ids are AUTOINCREMENT,
so a message committed later always has a higher id than one already indexed.

The delete and update triggers stay, limited to indexed rows: an FTS5 'delete' of values that
were never indexed would corrupt the index. PostgreSQL's pg_trgm indexes are unchanged.
"""

from django.db import migrations

COLUMNS = ("subject", "from_display", "to_display", "cc_display", "bcc_display", "search_headers", "search_body")
TABLE = "store_message"
FTS = "store_message_fts"
STATE = "store_message_fts_state"
INDEXED = f"old.id <= (SELECT indexed_upto FROM {STATE} WHERE id = 1)"


def _cols(prefix=""):
    return ", ".join(prefix + c for c in COLUMNS)


_DELETE = f"INSERT INTO {FTS}({FTS}, rowid, {_cols()}) VALUES ('delete', old.id, {_cols('old.')})"
_INSERT = f"INSERT INTO {FTS}(rowid, {_cols()}) VALUES (new.id, {_cols('new.')})"

SQLITE_FORWARD = [
    f"DROP TRIGGER IF EXISTS {FTS}_insert",
    f"DROP TRIGGER IF EXISTS {FTS}_delete",
    f"DROP TRIGGER IF EXISTS {FTS}_update",
    f"CREATE TABLE {STATE} (id INTEGER PRIMARY KEY CHECK (id = 1), indexed_upto INTEGER NOT NULL)",
    # Every row there is now was indexed by the trigger.
    f"INSERT INTO {STATE} (id, indexed_upto) SELECT 1, COALESCE(MAX(id), 0) FROM {TABLE}",
    f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON {TABLE} WHEN {INDEXED} BEGIN {_DELETE}; END",
    f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF {_cols()} ON {TABLE} WHEN {INDEXED} BEGIN "
    f"{_DELETE}; {_INSERT}; END",
]
SQLITE_BACKWARD = [
    f"INSERT INTO {FTS}(rowid, {_cols()}) SELECT id, {_cols()} FROM {TABLE} "  # noqa: S608
    f"WHERE id > (SELECT indexed_upto FROM {STATE} WHERE id = 1)",
    f"DROP TRIGGER IF EXISTS {FTS}_delete",
    f"DROP TRIGGER IF EXISTS {FTS}_update",
    f"DROP TABLE {STATE}",
    f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON {TABLE} BEGIN {_INSERT}; END",
    f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON {TABLE} BEGIN {_DELETE}; END",
    f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF {_cols()} ON {TABLE} BEGIN {_DELETE}; {_INSERT}; END",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("store", "0006_folder_recent_uid")]

    operations = [migrations.RunPython(_run({"sqlite": SQLITE_FORWARD}), _run({"sqlite": SQLITE_BACKWARD}))]
