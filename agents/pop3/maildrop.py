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
from dataclasses import dataclass, field

from agents.storecalls import store_call
from store.blobs import blob_path, blob_read_range
from store.selectors.pop3 import maildrop_snapshot
from store.services.blobs import blob_wire_fill
from store.services.pop3 import (
    maildrop_lock_acquire,
    maildrop_lock_refresh,
    maildrop_lock_release,
    maildrop_update,
)

log = logging.getLogger(__name__)

LOCK_TTL_SECONDS = 120
LOCK_REFRESH_SECONDS = 30
READ_CHUNK = 1024 * 1024


@dataclass
class MaildropMessage:
    number: int
    uid: int
    blob_id: str
    stored_size: int
    size: int  # announced in STAT/LIST: the CRLF-normalised size
    path: str  # the blob file, resolved once at login
    crlf_clean: bool = False  # stored with CRLF line ends and a terminated last line
    dot_lines: bool = True  # some line starts with "." (dot-stuffing needed)
    deleted: bool = False
    retrieved: bool = False

    @property
    def verbatim(self) -> bool:
        """The stored bytes are exactly what RETR sends before the terminator."""
        return self.crlf_clean and not self.dot_lines


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
    """Take the snapshot (call from a thread): message list and exact wire sizes.

    The sizes come from the blob rows (recorded at write time), so login reads no message file;
    only a blob stored before those columns existed is read, once, and its facts kept.
    """
    snapshot = maildrop_snapshot(account_id=account_id)
    if snapshot is None:
        return None
    maildrop = Maildrop(folder_id=snapshot.folder_id, uid_validity=snapshot.uid_validity)
    for number, entry in enumerate(snapshot.entries, start=1):
        size, crlf, dots = entry.wire_size, entry.wire_crlf, entry.wire_dots
        if size is None or crlf is None or dots is None:
            try:
                size, crlf, dots = blob_wire_fill(digest=entry.blob_id)
            except OSError:
                log.error("pop3: blob %s of uid %s is unreadable", entry.blob_id, entry.uid)
                size, crlf, dots = entry.size, False, True
        path = str(blob_path(entry.blob_id))
        maildrop.messages.append(
            MaildropMessage(number, entry.uid, entry.blob_id, entry.size, size, path, crlf_clean=crlf, dot_lines=dots)
        )
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
    """The stored bytes, through store.blobs's reader: one open and one read of a file (blobs are
    immutable and the size is known), or, for a message small enough to be kept in the database,
    the blob cache or one query there first (on a database server: call from a thread)."""
    return blob_read_range(message.blob_id, 0, message.stored_size, message.stored_size)


class MaildropLock:
    """One POP3 session per account, across processes (RFC 1939 §8: exclusive-access lock)."""

    held_here: set[MaildropLock] = set()  # for releasing them all when the process stops

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
        self.held_here.add(self)
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
        self.held_here.discard(self)
        if self._refresher is not None:
            self._refresher.cancel()
        try:
            await store_call(self._release_sync)
        except Exception:
            log.exception("pop3: lock release failed for account %s", self.account_id)


def maildrop_locks_release_all() -> int:
    """Release every lock this process holds (the agents process is stopping); returns how many.

    Sessions of a stopping process never reach UPDATE, so nothing else changes: without this their
    accounts would be IN-USE until the locks expire.
    """
    held = list(MaildropLock.held_here)
    MaildropLock.held_here.clear()
    for lock in held:
        lock._held = False
        maildrop_lock_release(account_id=lock.account_id, token=lock.token)
    return len(held)
