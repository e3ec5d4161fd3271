"""The selected folder as the session sees it: UID <-> sequence number map, flags and MODSEQs.

RFC 3501 §2.3.1.2: sequence numbers change only when the client is told (EXPUNGE responses, at
the moments §7.4.1 allows). The view keeps the columns in compact arrays (a 100k folder costs
about 2 MB) and is brought up to date incrementally from the store's MODSEQ changes. A process
wide cache of folder snapshots makes a warm SELECT a copy of arrays instead of a query.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass, field

from store.models import Flag
from store.selectors.imap import Changes, FolderRow, Snapshot, imap_changes, imap_snapshot

SNAPSHOT_CACHE_FOLDERS = 256  # folders whose columns stay cached per process (LRU)
SNAPSHOT_CACHE_MESSAGES = 2_000_000  # and at most this many messages in all


@dataclass
class Columns:
    uids: array = field(default_factory=lambda: array("q"))
    flags: array = field(default_factory=lambda: array("l"))
    modseqs: array = field(default_factory=lambda: array("q"))
    keywords: dict[int, tuple[str, ...]] = field(default_factory=dict)
    modseq: int = 0  # every change up to this MODSEQ is in the columns

    def copy(self) -> Columns:
        return Columns(
            array("q", self.uids), array("l", self.flags), array("q", self.modseqs), dict(self.keywords), self.modseq
        )

    def position(self, uid: int) -> int:
        """0-based index of uid, or -1."""
        index = bisect_left(self.uids, uid)
        return index if index < len(self.uids) and self.uids[index] == uid else -1


@dataclass
class Update:
    """The result of applying changes: what to announce."""

    flag_changes: list[int] = field(default_factory=list)  # uids whose flags changed
    added: int = 0
    expunged: list[int] = field(default_factory=list)  # uids newly removed in the store


def columns_apply(columns: Columns, changes: Changes) -> Update:
    """Fold store changes into columns; expunged uids are only reported, not removed here."""
    update = Update()
    uids, flags, modseqs, keywords = columns.uids, columns.flags, columns.modseqs, columns.keywords
    for uid, bits, modseq, words in changes.rows:
        index = columns.position(uid)
        if index >= 0:
            if modseqs[index] == modseq:
                continue
            old = (flags[index], keywords.get(uid, ()))
            flags[index] = bits
            modseqs[index] = modseq
            new_words = tuple(words or ())
            if new_words:
                keywords[uid] = new_words
            else:
                keywords.pop(uid, None)
            if old != (bits, new_words):
                update.flag_changes.append(uid)
        elif not uids or uid > uids[-1]:
            uids.append(uid)
            flags.append(bits)
            modseqs.append(modseq)
            if words:
                keywords[uid] = tuple(words)
            update.added += 1
    update.expunged = [uid for uid in changes.expunged if columns.position(uid) >= 0]
    columns.modseq = max(columns.modseq, changes.folder.highest_modseq)
    return update


def columns_remove(columns: Columns, uids: set[int]) -> None:
    if not uids:
        return
    keep = [index for index, uid in enumerate(columns.uids) if uid not in uids]
    columns.uids = array("q", (columns.uids[i] for i in keep))
    columns.flags = array("l", (columns.flags[i] for i in keep))
    columns.modseqs = array("q", (columns.modseqs[i] for i in keep))
    for uid in uids:
        columns.keywords.pop(uid, None)


def columns_from_snapshot(snapshot: Snapshot) -> Columns:
    return Columns(
        array("q", snapshot.uids),
        array("l", snapshot.flags),
        array("q", snapshot.modseqs),
        snapshot.keywords,
        snapshot.folder.highest_modseq,
    )


class SnapshotCache:
    """Per-process cache: folder id -> (uid_validity, Columns). Called from DB threads; locked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, tuple[int, Columns]] = OrderedDict()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def load(self, folder_id: int, folder: FolderRow | None = None) -> tuple[FolderRow, Columns] | None:
        """Fresh columns of a folder (a private copy) and its row; None when the folder is gone.

        With the folder row just read (folder), an unchanged cached folder costs no further query.
        """
        with self._lock:
            entry = self._entries.get(folder_id)
            if entry is not None:
                self._entries.move_to_end(folder_id)
                cached = entry[1].copy()
        if entry is not None:
            if folder is not None and folder.uid_validity == entry[0] and folder.highest_modseq <= cached.modseq:
                return folder, cached
            changes = imap_changes(folder_id, cached.modseq)
            if changes is None:
                return None
            if changes.folder.uid_validity == entry[0]:
                update = columns_apply(cached, changes)
                columns_remove(cached, set(update.expunged))
                self._store(folder_id, changes.folder.uid_validity, cached)
                return changes.folder, cached.copy()
        snapshot = imap_snapshot(folder_id)
        if snapshot is None:
            return None
        columns = columns_from_snapshot(snapshot)
        self._store(folder_id, snapshot.folder.uid_validity, columns)
        return snapshot.folder, columns.copy()

    def _store(self, folder_id: int, uid_validity: int, columns: Columns) -> None:
        with self._lock:
            self._entries[folder_id] = (uid_validity, columns)
            self._entries.move_to_end(folder_id)
            total = sum(len(entry[1].uids) for entry in self._entries.values())
            while len(self._entries) > 1 and (
                len(self._entries) > SNAPSHOT_CACHE_FOLDERS or total > SNAPSHOT_CACHE_MESSAGES
            ):
                _, (_, dropped) = self._entries.popitem(last=False)
                total -= len(dropped.uids)


SNAPSHOTS = SnapshotCache()


# folder id -> the first UID this process knows to be claimed \Recent already: a folder row read
# before a claim (a cached snapshot) must not send every later SELECT to the writer for nothing.
RECENT_CLAIMED: dict[int, int] = {}


class RecentUids:
    """The UID ranges a session claimed as \\Recent: one range per claim, so the first SELECT of a
    100k folder keeps two integers, not a set of 100k."""

    __slots__ = ("ranges",)

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []

    def add(self, low: int, high: int) -> None:
        last = self.ranges[-1] if self.ranges else None
        if last is not None and last[0] <= low <= last[1] + 1:
            self.ranges[-1] = (last[0], max(high, last[1]))
        else:
            self.ranges.append((low, high))

    def __contains__(self, uid: int) -> bool:
        return any(low <= uid <= high for low, high in self.ranges)

    def __bool__(self) -> bool:
        return bool(self.ranges)


class FolderView:
    """The selected folder of one session."""

    def __init__(self, folder: FolderRow, columns: Columns, *, read_only: bool) -> None:
        self.folder_id = folder.id
        self.name = folder.name
        self.uid_validity = folder.uid_validity
        self.uid_next = folder.uid_next
        self.read_only = read_only
        self.columns = columns
        self.pending_expunge: set[int] = set()  # gone from the store, not yet announced
        self.recent_uid = folder.recent_uid  # the store's first unclaimed UID, as last read
        self.recent = RecentUids()  # UIDs that are \Recent in this session (RFC 3501 §2.3.2)

    def recent_unclaimed(self) -> int | None:
        """The highest UID in the view not yet claimed by any read-write session, or None."""
        uids = self.columns.uids
        if uids and uids[-1] >= max(self.recent_uid, RECENT_CLAIMED.get(self.folder_id, 0)):
            return uids[-1]
        return None

    def recent_positions(self) -> list[range]:
        """0-based view positions of the session's \\Recent messages, as ranges."""
        uids = self.columns.uids
        return [range(bisect_left(uids, low), bisect_left(uids, high + 1)) for low, high in self.recent.ranges]

    @property
    def exists(self) -> int:
        return len(self.columns.uids)

    def first_unseen(self) -> int:
        for index, bits in enumerate(self.columns.flags):
            if not bits & Flag.SEEN:
                return index + 1
        return 0

    def highest_modseq(self) -> int:
        return self.columns.modseq

    def refresh(self) -> Update | None:
        """Read the store's changes since the view's MODSEQ (call in a DB thread)."""
        changes = imap_changes(self.folder_id, self.columns.modseq)
        if changes is None or changes.folder.uid_validity != self.uid_validity:
            return None
        self.uid_next = changes.folder.uid_next
        self.recent_uid = changes.folder.recent_uid
        update = columns_apply(self.columns, changes)
        self.pending_expunge.update(update.expunged)
        return update
