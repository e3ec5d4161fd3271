"""SEARCH finds a message at once after delivery, before the search index has it, and after.

On SQLite the FTS5 index is filled after the delivery commit (store.services.search_index, run
by the agents' SearchIndexer); the messages above its mark are scanned. On PostgreSQL the pg_trgm
indexes are written with the row, so the same answers are expected with nothing pending.
"""

import time

from django.db import connection

from agents.searchindexer import SearchIndexer
from store.models import Message
from store.services.search_index import search_index_catch_up, search_index_pending
from tests.agents.imap.conftest import message

SQLITE = connection.vendor == "sqlite"


def _search(client, *criteria):
    typ, data = client.search(None, *criteria)
    assert typ == "OK"
    return [int(n) for n in data[0].split()]


def _fts_integrity() -> None:
    """FTS5 checks its index against the message table (every message must be indexed by now)."""
    if SQLITE:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO store_message_fts(store_message_fts, rank) VALUES ('integrity-check', 1)")


def _until(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_search_before_and_after_indexing(imap):
    """Body, subject and header keys find a new message at once, and the same after indexing."""
    imap.deliver(message("Quarterly report", body="numbers inside\r\n"))
    imap.deliver(message("Lunch plans", body="Meet at the Ramen-Shop at noon\r\n"))
    assert search_index_pending() is SQLITE  # the text keys below go through the unindexed tail
    client = imap.client()
    client.select("INBOX")
    expected = {
        ("BODY", "ramen-shop"): [2],
        ("TEXT", "NUMBERS"): [1],
        ("SUBJECT", "report"): [1],
        ("HEADER", "Subject", "lunch"): [2],
        ("BODY", "at"): [2],  # shorter than a trigram: scanned either way
        ("BODY", "nowhere-to-be-found"): [],
    }
    for criteria, uids in expected.items():
        assert _search(client, *criteria) == uids, criteria
    indexed = search_index_catch_up()
    assert indexed == (2 if SQLITE else 0)
    assert not search_index_pending()
    _fts_integrity()
    for criteria, uids in expected.items():
        assert _search(client, *criteria) == uids, criteria
    # A third message above the mark while the first two are indexed: both halves answer.
    imap.deliver(message("Ramen again", body="the Ramen-Shop is closed\r\n"))
    client.noop()
    assert _search(client, "TEXT", "ramen-shop") == [2, 3]


def test_expunge_of_indexed_and_unindexed_messages(imap):
    """Deleting a message that is indexed removes it from the index; deleting one that is not
    yet indexed leaves the index intact (FTS5 must not be told to delete what it never had)."""
    imap.deliver(message("Indexed one", body="alpha bravo\r\n"))
    search_index_catch_up()
    imap.deliver(message("Fresh one", body="alpha charlie\r\n"))
    client = imap.client()
    client.select("INBOX")
    client.store("1:2", "+FLAGS", "(\\Deleted)")
    client.expunge()
    imap.deliver(message("Survivor", body="alpha delta\r\n"))
    client.noop()
    assert _search(client, "BODY", "alpha") == [1]
    search_index_catch_up()
    _fts_integrity()
    assert _search(client, "BODY", "alpha") == [1]
    assert _search(client, "BODY", "bravo") == []


def test_indexer_catches_up_at_start_and_after_deliveries(imap):
    """Messages committed while no indexer ran (a stop or a crash) are indexed when it starts;
    a delivery while it runs is indexed shortly after its commit."""
    for number in range(3):
        imap.deliver(message(f"Before start {number}", body="written while nobody indexed\r\n"))
    assert search_index_pending() is SQLITE
    indexer = SearchIndexer()
    indexer.start()
    try:
        _until(lambda: not search_index_pending())
        imap.deliver(message("While running", body="indexed after its commit\r\n"))
        _until(lambda: not search_index_pending())
        assert indexer.indexed == (4 if SQLITE else 0)
    finally:
        indexer.stop()
        indexer.join(5)
    _fts_integrity()
    client = imap.client()
    client.select("INBOX")
    assert _search(client, "BODY", "nobody") == [1, 2, 3]
    assert _search(client, "BODY", "after") == [4]


def test_body_text_is_stored_by_the_indexer_and_found_meanwhile(imap):
    """On SQLite a delivery leaves a message's body text to the indexer (a shorter commit); until
    then SEARCH works it out from the message, for copies too, and afterwards the row has it."""
    imap.deliver(message("Soup", body="a bowl of Tonkotsu ramen\r\n"))
    stored = Message.objects.get(subject="Soup")
    assert (stored.search_body == "") is SQLITE
    client = imap.client()
    client.create("Kept")
    client.select("INBOX")
    assert client.copy("1", "Kept")[0] == "OK"
    appended = b"Subject: Noodles\r\n\r\nmiso ramen, appended\r\n"
    assert client.append("Kept", None, None, appended)[0] == "OK"  # an APPEND leaves it too
    assert (Message.objects.get(subject="Noodles").search_body == "") is SQLITE
    for folder in ("INBOX", "Kept"):
        client.select(folder)
        assert _search(client, "BODY", "tonkotsu") == [1], folder
        assert _search(client, "BODY", "ramen") == ([1] if folder == "INBOX" else [1, 2]), folder
        assert _search(client, "BODY", '"l of"') == [1], folder
        assert _search(client, "BODY", "of") == [1], folder  # shorter than a trigram: scanned
        assert _search(client, "TEXT", "zq") == [], folder
    search_index_catch_up()
    _fts_integrity()
    assert {row.search_body for row in Message.objects.filter(subject="Soup")} == {"a bowl of Tonkotsu ramen\n"}
    assert Message.objects.get(subject="Noodles").search_body == "miso ramen, appended\n"
    for folder in ("INBOX", "Kept"):
        client.select(folder)
        assert _search(client, "BODY", "tonkotsu") == [1], folder
        assert _search(client, "BODY", "of") == [1], folder
