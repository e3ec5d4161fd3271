"""The thread that indexes delivered messages for IMAP SEARCH after their commit, in the lulls.

Deliveries and appends commit without the SQLite FTS5 trigram index; this thread indexes them
later with store.services.search_index. Indexing is not cheap (the trigram index of a 64 KB body
costs more CPU than the rest of its delivery) and holds the database's write lock while a batch
is written, so it waits for a lull: it wakes on the store's "add" change events (of this process
and, through the change listener, of the others) and indexes once no message has been added for
QUIET_SECONDS, or once the oldest waiting message has waited MAX_LAG_SECONDS, so a steady stream
of mail delays the index by at most that. It catches up at start too (messages committed while
no agents process ran, or before a crash), and every CATCH_UP_INTERVAL_SECONDS should an event be
missed. SEARCH never waits for it: the messages above the index's mark are scanned.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections, connection

from store.changes import Change, subscribe
from store.services.search_index import search_index_batch, search_index_pending

log = logging.getLogger(__name__)

QUIET_SECONDS = 0.5  # no message added for this long: a lull, index now
MAX_LAG_SECONDS = 30.0  # a message waits at most about this long for the index
CATCH_UP_INTERVAL_SECONDS = 30.0  # safety net should a change event be missed
RETRY_SECONDS = 1.0


class SearchIndexer(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="search-indexer", daemon=True)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._last_add = 0.0
        self._unsubscribe = subscribe(self._on_change)
        self.indexed = 0  # messages indexed by this thread (tests, logs)

    def _on_change(self, change: Change) -> None:
        if change.kind == "add":
            self._last_add = time.monotonic()
            self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._unsubscribe()

    def run(self) -> None:
        try:
            waiting_since = time.monotonic()
            while not self._stopping.is_set():
                try:
                    if self._index(waiting_since):
                        waiting_since = 0.0
                except Exception:
                    log.exception("search indexing failed; retrying")
                    close_old_connections()
                    connection.close()
                    self._stopping.wait(RETRY_SECONDS)
                    continue
                if not waiting_since:
                    self._wake.wait(CATCH_UP_INTERVAL_SECONDS)
                    self._wake.clear()
                    waiting_since = time.monotonic()
                self._lull_wait(waiting_since)
        finally:
            connection.close()

    def _lull_wait(self, waiting_since: float) -> None:
        while not self._stopping.is_set():
            now = time.monotonic()
            quiet_left = QUIET_SECONDS - (now - self._last_add)
            lag_left = MAX_LAG_SECONDS - (now - waiting_since)
            if quiet_left <= 0 or lag_left <= 0:
                return
            self._stopping.wait(min(quiet_left, lag_left))

    def _index(self, waiting_since: float) -> bool:
        """Index batches until caught up (True), or until mail arrives again while the lag allows."""
        if not search_index_pending():
            return True
        while not self._stopping.is_set():
            indexed = search_index_batch()
            self.indexed += indexed
            if not indexed:
                return True
            now = time.monotonic()
            if now - self._last_add < QUIET_SECONDS and now - waiting_since < MAX_LAG_SECONDS:
                return False
        return False
