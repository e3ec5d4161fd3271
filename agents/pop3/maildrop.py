"""The maildrop of one POP3 session (RFC 1939 §8): an INBOX snapshot, its exclusive lock, its bytes.

The snapshot is taken at login: mail that arrives later is not shown to this session, messages
keep their numbers for the whole session, and only the UPDATE state (QUIT) changes the store.

Unique ids (UIDL, RFC 1939 §7) are "<UIDVALIDITY>.<UID>" of the INBOX message, in decimal: the
same pair an IMAP client sees for the message (UIDVALIDITY response code and the UID FETCH item),
stable across sessions and across POP3 and IMAP, and never reused while UIDVALIDITY holds.

The lock is a row in the store (store.services.pop3.maildrop_lock_*), taken with an atomic insert
and refreshed while the session lives, so it holds across agents processes and hosts on SQLite
and PostgreSQL alike; a crashed process's lock expires after LOCK_TTL_SECONDS.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from agents.pop3.wire import crlf_size
from agents.storecalls import store_call
from store.blobs import blob_path
from store.selectors.pop3 import maildrop_snapshot
from store.services.pop3 import (
    maildrop_lock_acquire,
    maildrop_lock_refresh,
    maildrop_lock_release,
    maildrop_update,
)

log = logging.getLogger(__name__)

LOCK_TTL_SECONDS = 120
LOCK_REFRESH_SECONDS = 30
SIZE_CACHE_ENTRIES = 200_000  # blobs are immutable, so a computed wire size never goes stale
READ_CHUNK = 1024 * 1024


class _SizeCache:
    def __init__(self) -> None:
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> int | None:
        with self._lock:
            size = self._sizes.get(digest)
            if size is not None:
                self._sizes.move_to_end(digest)
            return size

    def put(self, digest: str, size: int) -> None:
        with self._lock:
            self._sizes[digest] = size
            while len(self._sizes) > SIZE_CACHE_ENTRIES:
                self._sizes.popitem(last=False)


_wire_sizes = _SizeCache()


def wire_size(digest: str) -> int:
    """The CRLF-normalised size of a blob (what RETR sends before dot-stuffing)."""
    size = _wire_sizes.get(digest)
    if size is None:
        with open(blob_path(digest), "rb") as handle:
            size = crlf_size(handle.read())
        _wire_sizes.put(digest, size)
    return size


@dataclass
class MaildropMessage:
    number: int
    uid: int
    blob_id: str
    stored_size: int
    size: int  # announced in STAT/LIST: the CRLF-normalised size
    path: str  # the blob file, resolved once at login
    deleted: bool = False
    retrieved: bool = False

    @property
    def crlf_clean(self) -> bool:
        """Stored with CRLF line ends and a terminated last line: sent without normalising."""
        return self.size == self.stored_size


@dataclass
class Maildrop:
    folder_id: int
    uid_validity: int
    messages: list[MaildropMessage] = field(default_factory=list)

    def unique_id(self, message: MaildropMessage) -> str:
        return f"{self.uid_validity}.{message.uid}"

    def live(self) -> list[MaildropMessage]:
        return [message for message in self.messages if not message.deleted]

    def get(self, number: int) -> MaildropMessage | None:
        if 1 <= number <= len(self.messages):
            return self.messages[number - 1]
        return None


def maildrop_load(account_id: int) -> Maildrop | None:
    """Take the snapshot (call from a thread): message list and exact wire sizes."""
    snapshot = maildrop_snapshot(account_id=account_id)
    if snapshot is None:
        return None
    maildrop = Maildrop(folder_id=snapshot.folder_id, uid_validity=snapshot.uid_validity)
    for number, entry in enumerate(snapshot.entries, start=1):
        try:
            size = wire_size(entry.blob_id)
        except OSError:
            log.error("pop3: blob %s of uid %s is unreadable", entry.blob_id, entry.uid)
            size = entry.size
        path = str(blob_path(entry.blob_id))
        maildrop.messages.append(MaildropMessage(number, entry.uid, entry.blob_id, entry.size, size, path))
    return maildrop


def maildrop_commit(maildrop: Maildrop) -> int:
    """The UPDATE state (call from a thread): expunge the deleted, mark the retrieved \\Seen.

    Returns how many messages of the snapshot remain.
    """
    deleted = [m.uid for m in maildrop.messages if m.deleted]
    seen = [m.uid for m in maildrop.messages if m.retrieved and not m.deleted]
    maildrop_update(folder_id=maildrop.folder_id, deleted_uids=deleted, seen_uids=seen)
    return len(maildrop.messages) - len(deleted)


def message_read(message: MaildropMessage) -> bytes:
    with open(message.path, "rb") as handle:
        return handle.read()


class MaildropLock:
    """One POP3 session per account, across processes (RFC 1939 §8: exclusive-access lock)."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self.token = f"{os.getpid()}.{os.urandom(8).hex()}"
        self._refresher: asyncio.Task[None] | None = None
        self._held = False

    async def acquire(self) -> bool:
        added = await store_call(
            maildrop_lock_acquire, account_id=self.account_id, token=self.token, ttl_seconds=LOCK_TTL_SECONDS
        )
        if not added:
            return False
        self._held = True
        self._refresher = asyncio.create_task(self._refresh_loop())
        return True

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(LOCK_REFRESH_SECONDS)
            try:
                await store_call(self._refresh)
            except Exception:
                log.exception("pop3: lock refresh failed for account %s", self.account_id)

    def _refresh(self) -> None:
        if not maildrop_lock_refresh(account_id=self.account_id, token=self.token, ttl_seconds=LOCK_TTL_SECONDS):
            # Expired and freed after a very long stall: take it back if nobody else has.
            maildrop_lock_acquire(account_id=self.account_id, token=self.token, ttl_seconds=LOCK_TTL_SECONDS)

    def _release_sync(self) -> None:
        maildrop_lock_release(account_id=self.account_id, token=self.token)

    async def release(self) -> None:
        if not self._held:
            return
        self._held = False
        if self._refresher is not None:
            self._refresher.cancel()
        try:
            await store_call(self._release_sync)
        except Exception:
            log.exception("pop3: lock release failed for account %s", self.account_id)
