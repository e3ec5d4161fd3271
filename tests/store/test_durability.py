"""store.durability.flush_mode_keep: state-only commits skip the disk flush, everything else waits."""

from __future__ import annotations

import pytest
from django.db import connection

from store.durability import flush_mode_keep

pytestmark = pytest.mark.django_db(transaction=True)


def _mode() -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA synchronous")
            return {1: "no flush", 2: "flush", 3: "flush"}[cursor.fetchone()[0]]
        cursor.execute("SHOW synchronous_commit")
        return "no flush" if cursor.fetchone()[0] == "off" else "flush"


def test_a_connection_flushes_until_told_otherwise_and_keeps_what_it_is_told():
    assert _mode() == "flush"
    flush_mode_keep(False)
    assert _mode() == "no flush"
    flush_mode_keep(False)
    assert _mode() == "no flush"
    flush_mode_keep(True)
    assert _mode() == "flush"
    flush_mode_keep(False)
    assert _mode() == "no flush"
    flush_mode_keep(True)


def test_a_new_connection_is_not_taken_for_the_old_ones_mode():
    flush_mode_keep(False)
    connection.close()
    assert _mode() == "flush"  # a new connection flushes
    flush_mode_keep(False)  # remembered for the old connection, so set again on this one
    assert _mode() == "no flush"
    connection.close()
    flush_mode_keep(True)
    assert _mode() == "flush"
