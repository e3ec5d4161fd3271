"""store.durability.commit_flush: state-only commits skip the disk flush, everything else waits."""

from __future__ import annotations

import pytest
from django.db import connection

from store.durability import commit_flush

pytestmark = pytest.mark.django_db(transaction=True)


def _mode() -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA synchronous")
            return {1: "no flush", 2: "flush", 3: "flush"}[cursor.fetchone()[0]]
        cursor.execute("SHOW synchronous_commit")
        return "no flush" if cursor.fetchone()[0] == "off" else "flush"


def test_commit_flush_sets_the_mode_inside_and_restores_it_after():
    assert _mode() == "flush"
    with commit_flush(False):
        assert _mode() == "no flush"
    assert _mode() == "flush"
    with commit_flush(True):
        assert _mode() == "flush"
    assert _mode() == "flush"


def test_the_mode_is_restored_when_the_writes_fail():
    with pytest.raises(RuntimeError), commit_flush(False):
        raise RuntimeError("a write failed")
    assert _mode() == "flush"
