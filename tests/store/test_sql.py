"""store.sql.driver_cursor and the services' insert helper: the ORM's results without its overhead."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction

from store.models import Account, DeliveryLog
from store.services import account_create, domain_create
from store.services.log import log_records
from store.sql import driver_cursor
from tests.conftest import in_forked_child

pytestmark = pytest.mark.django_db(transaction=True)


def test_placeholders_parameters_and_percent_signs():
    domain_create(name="example.test")
    account_create(address="taro@example.test", password="correct horse 1")
    with driver_cursor() as cursor:
        cursor.execute(
            "SELECT address FROM store_account WHERE address LIKE %s AND address <> %s", ["taro%", "100%% sure"]
        )
        assert cursor.fetchall() == [("taro@example.test",)]
        cursor.execute("SELECT COUNT(*) FROM store_account WHERE address LIKE 'taro%'")  # no params: as written
        assert cursor.fetchone() == (1,)


def test_driver_errors_are_djangos_and_the_transaction_is_rolled_back():
    domain_create(name="example.test")
    account = account_create(address="taro@example.test", password="correct horse 1")
    with pytest.raises(IntegrityError), transaction.atomic(), driver_cursor() as cursor:
        cursor.execute("UPDATE store_account SET quota = %s WHERE id = %s", [5, account.pk])
        cursor.execute("UPDATE store_account SET address = %s WHERE id = %s", [None, account.pk])
    assert Account.objects.get(pk=account.pk).quota == account.quota


def test_inserted_rows_read_back_as_the_orm_wrote_them():
    moment = datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=UTC)
    values = {
        "event": "received",
        "message_id": "m1@example.test",
        "sender": "hanako@example.org",
        "recipient": "taro@example.test",
        "client_ip": "2001:db8::1",
        "tls": True,
        "size": 4096,
        "detail": {"spf": "pass", "note": "日本語", "list": [1, 2]},
    }
    orm = DeliveryLog.objects.create(**values)
    log_records(rows=[values, {"event": "rejected", "detail": {}}])
    helper, bare = DeliveryLog.objects.exclude(pk=orm.pk).order_by("pk")
    for name, value in values.items():
        assert getattr(helper, name) == getattr(orm, name) == value, name
    assert bare.client_ip is None and bare.detail == {} and bare.message_id == "" and bare.size == 0
    assert abs((helper.created - orm.created).total_seconds()) < 60
    # The stored text of the columns the ORM formats (date, JSON, address) is the same too.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT created, detail, client_ip FROM store_deliverylog WHERE id IN (%s, %s) ORDER BY id",
            [orm.pk, helper.pk],
        )
        stored_orm, stored_helper = cursor.fetchall()
    assert stored_orm[1:] == stored_helper[1:]
    # A date given in the row is stored as the ORM stores it.
    DeliveryLog.objects.filter(pk=orm.pk).update(created=moment)
    log_records(rows=[{"event": "received", "created": moment}])
    dated = DeliveryLog.objects.order_by("-pk").first()
    assert dated is not None and dated.created == moment
    with connection.cursor() as cursor:
        cursor.execute("SELECT created FROM store_deliverylog WHERE id IN (%s, %s)", [orm.pk, dated.pk])
        assert len({row[0] for row in cursor.fetchall()}) == 1


def test_addresses_are_normalised_as_the_orm_does():
    written = ["2001:0DB8:0000::0001", "::ffff:192.0.2.7", "192.0.2.7", None]
    for address in written:
        DeliveryLog.objects.create(event="received", client_ip=address)
    log_records(rows=[{"event": "received", "client_ip": address} for address in written])
    stored = list(DeliveryLog.objects.order_by("pk").values_list("client_ip", flat=True))
    by_orm, by_helper = stored[: len(written)], stored[len(written) :]
    assert by_helper == by_orm
    assert by_orm[0] == "2001:db8::1"


@pytest.mark.skipif(connection.vendor != "sqlite", reason="a side connection is SQLite's")
def test_data_version_moves_with_commits_and_a_forked_child_has_its_own_connection():
    """imap_data_version reads SQLite's data_version on a side connection: it moves when another
    connection commits, and a forked child opens a connection of its own at once (one carried
    over a fork must not be used), leaving the parent's as it was."""
    from store.selectors.imap import imap_data_version

    before = imap_data_version()
    domain_create(name="example.test")  # a commit by Django's connection, another one
    after = imap_data_version()
    assert before is not None and after is not None and after != before
    assert imap_data_version() == after  # nothing committed since
    parent = imap_data_version._side.connection
    assert in_forked_child(lambda: imap_data_version() is not None and imap_data_version._side.connection is not parent)
    assert imap_data_version._side.connection is parent and imap_data_version() == after


@pytest.mark.skipif(connection.vendor != "sqlite", reason="a side connection is SQLite's")
def test_data_version_asks_sqlite_only_after_a_commit_and_sees_other_processes_commits():
    """While the WAL index's header is unchanged no statement runs (the poll every IMAP command
    makes); each commit, by this process or another, gives a new number at once."""
    import subprocess
    import sys

    from store.selectors.imap import imap_data_version
    from store.sql import sqlite_file

    domain_create(name="example.test")
    imap_data_version()
    statements: list[str] = []
    imap_data_version._side.connection.set_trace_callback(statements.append)
    try:
        first = imap_data_version()
        assert [imap_data_version() for _ in range(50)] == [first] * 50 and statements == []
        seen = {first}
        for number in range(20):
            if number % 2:
                DeliveryLog.objects.create(event="received", client_ip="192.0.2.1")
            else:  # another process's connection commits
                script = (
                    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
                    "c.execute(\"UPDATE store_domain SET name = name WHERE name = 'example.test'\")"
                )
                subprocess.run([sys.executable, "-c", script, sqlite_file()], check=True)
            version = imap_data_version()
            assert version not in seen and imap_data_version() == version
            seen.add(version)
        assert statements  # the commits were seen through the PRAGMA
    finally:
        imap_data_version._side.connection.set_trace_callback(None)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="server-side prepared statements are PostgreSQL's")
def test_repeated_statements_are_prepared_on_the_server():
    """A statement the store runs again and again (a delivery's inserts) is prepared on the
    server after YUBIN_DB_PREPARE_THRESHOLD runs, so it is planned once per connection."""
    domain_create(name="example.test")
    sql = "SELECT id FROM store_domain WHERE name = %s AND id > %s"
    with transaction.atomic(), driver_cursor() as cursor:
        for number in range(6):
            cursor.execute(sql, ["example.test", -number])
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("FROM store_domain WHERE name = $1 AND id > $2" in text for text in prepared), prepared


@pytest.mark.parametrize(("value", "expected"), [("", 5), ("3", 3), ("0", None)])
def test_prepare_threshold_setting(value, expected):
    """0 turns the prepared statements off (for a connection pooler without them)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(repr(settings.DATABASES['default']['OPTIONS']['prepare_threshold']))"
    )
    env = dict(os.environ, DATABASE_URL="postgres://yubin@db.invalid/yubin", YUBIN_DB_PREPARE_THRESHOLD=value)
    env["DJANGO_SETTINGS_MODULE"] = "yubin.settings"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == repr(expected), result.stderr
