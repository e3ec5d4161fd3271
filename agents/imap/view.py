"""The selected folder as the session sees it: UID <-> sequence number map, flags and MODSEQs.

RFC 3501 §2.3.1.2: sequence numbers change only when the client is told (EXPUNGE responses, at
the moments §7.4.1 allows). The view keeps the columns in compact arrays (a 100k folder costs
about 2 MB) and is brought up to date incrementally from the store's MODSEQ changes. A process
wide cache of folder snapshots makes a warm SELECT a copy of arrays instead of a query.
"""

from __future__ import annotations

import threading
import time
from array import array
from bisect import bisect_left
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from store.models import Flag
from store.selectors.imap import Changes, FolderRow, Snapshot, imap_changes, imap_data_version, imap_snapshot

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


@dataclass(frozen=True)
class Delta:
    """What one read of the store found changed in a folder after MODSEQ `since`, up to `modseq`."""

    since: int
    modseq: int
    uid_next: int
    rows: list[tuple[int, int, int, tuple[str, ...]]]  # (uid, flags, modseq, keywords) ascending uid
    expunged: list[int]


def columns_apply(columns: Columns, delta: Delta, update: Update | None = None) -> Update:
    """Fold store changes into columns; expunged uids are only reported, not removed here."""
    update = update or Update()
    uids, flags, modseqs, keywords = columns.uids, columns.flags, columns.modseqs, columns.keywords
    for uid, bits, modseq, words in delta.rows:
        index = columns.position(uid)
        if index >= 0:
            if modseqs[index] >= modseq:  # known already (a message's MODSEQ only grows)
                continue
            old = (flags[index], keywords.get(uid, ()))
            flags[index] = bits
            modseqs[index] = modseq
            if words:
                keywords[uid] = words
            else:
                keywords.pop(uid, None)
            if old != (bits, words):
                update.flag_changes.append(uid)
        elif not uids or uid > uids[-1]:
            uids.append(uid)
            flags.append(bits)
            modseqs.append(modseq)
            if words:
                keywords[uid] = words
            update.added += 1
    update.expunged += [uid for uid in delta.expunged if columns.position(uid) >= 0]
    columns.modseq = max(columns.modseq, delta.modseq)
    return update


def columns_remove(columns: Columns, uids: set[int]) -> None:
    if not uids:
        return
    if len(uids) <= 64:  # a few: deleted in place, at C speed
        for index in sorted((columns.position(uid) for uid in uids), reverse=True):
            if index >= 0:
                del columns.uids[index], columns.flags[index], columns.modseqs[index]
    else:
        keep = [index for index, uid in enumerate(columns.uids) if uid not in uids]
        columns.uids = array("q", (columns.uids[i] for i in keep))
        columns.flags = array("l", (columns.flags[i] for i in keep))
        columns.modseqs = array("q", (columns.modseqs[i] for i in keep))
    for uid in uids:
        columns.keywords.pop(uid, None)


def _delta(changes: Changes, since: int) -> Delta:
    return Delta(
        since=since,
        modseq=max(since, changes.folder.highest_modseq),
        uid_next=changes.folder.uid_next,
        rows=changes.rows,
        expunged=changes.expunged,
    )


NAME_CACHE_ENTRIES = 10_000  # (account, folder name) -> folder id, for SELECT without a DB thread
FEED_DELTAS = 64  # recent reads of a folder kept for the sessions that have not caught up yet


class FolderFeed:
    """One folder's current columns and its recent changes, shared by every session of the process.

    After a change, the sessions that have the folder selected all need the same rows: the first
    one reads them from the store (under `lock`), the others apply the kept Delta in memory, on
    the event loop. Deltas are immutable; the columns change only under the lock.
    """

    def __init__(self, folder: FolderRow, columns: Columns, version: int | None = None) -> None:
        self.lock = threading.Lock()
        self.folder_id = folder.id
        self.uid_validity = folder.uid_validity
        # (columns, uid_next) replaced as one reference, never changed in place: a reader on the
        # event loop takes it without the lock.
        self.state = (columns, folder.uid_next)
        self.recent_uid = folder.recent_uid  # the store's first unclaimed \Recent UID, as last read
        self.deltas: deque[Delta] = deque(maxlen=FEED_DELTAS)
        self.read_started = 0.0  # monotonic time at which the last read of the store began
        # The store's data version (imap_data_version) taken before a read found the feed current.
        self.version = version

    @property
    def columns(self) -> Columns:
        return self.state[0]

    @property
    def modseq(self) -> int:
        return self.state[0].modseq

    def read(self) -> bool:
        """Bring the feed up to date from the store (call in a DB thread, holding `lock`); False
        when the folder is gone or is another folder now (UIDVALIDITY changed)."""
        started = time.monotonic()
        version = imap_data_version()
        current = self.columns
        changes = imap_changes(self.folder_id, current.modseq)
        if changes is None or changes.folder.uid_validity != self.uid_validity:
            return False
        self.read_started = started
        self.recent_uid = max(self.recent_uid, changes.folder.recent_uid)
        if changes.folder.highest_modseq > current.modseq or changes.rows or changes.expunged:
            delta = _delta(changes, current.modseq)
            columns = current.copy()
            update = columns_apply(columns, delta)
            columns_remove(columns, set(update.expunged))
            self.deltas.append(delta)
            self.state = (columns, delta.uid_next)
        self.version = version
        return True

    def since(self, modseq: int) -> list[Delta] | None:
        """The deltas that take a view at `modseq` to the feed's MODSEQ; None if not kept."""
        deltas = list(self.deltas)
        chain = [delta for delta in deltas if delta.modseq > modseq]
        if not chain:
            return [] if modseq >= self.columns.modseq else None
        return chain if chain[0].since <= modseq else None


class FeedCache:
    """Per-process cache: folder id -> FolderFeed (LRU). Loaded and advanced in DB threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, FolderFeed] = OrderedDict()
        self._names: dict[tuple[int, str], tuple[int, str, int]] = {}
        self._load_locks: dict[int, threading.Lock] = {}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._names.clear()

    def get(self, folder_id: int) -> FolderFeed | None:
        return self._entries.get(folder_id)

    def _loading(self, folder_id: int) -> threading.Lock:
        with self._lock:
            if len(self._load_locks) > SNAPSHOT_CACHE_FOLDERS * 4:
                self._load_locks.clear()
            return self._load_locks.setdefault(folder_id, threading.Lock())

    def name_remember(self, account_id: int, name: str, folder: FolderRow, version: int | None) -> None:
        """The folder a name resolved to, read after the store's data version `version`."""
        if version is None:
            return
        if len(self._names) >= NAME_CACHE_ENTRIES:
            self._names.clear()
        self._names[(account_id, name)] = (folder.id, folder.name, version)

    def current(self, account_id: int, name: str) -> tuple[FolderFeed, str] | None:
        """(feed, stored name) of a folder name when nothing was committed to the store since
        both were read, so they are exact now; None when that is not known (then read)."""
        entry = self._names.get((account_id, name))
        if entry is None:
            return None
        folder_id, stored_name, version = entry
        feed = self._entries.get(folder_id)
        if feed is None or feed.version != version or imap_data_version() != version:
            return None
        return feed, stored_name

    def load(self, folder_id: int, folder: FolderRow | None = None, version: int | None = None) -> FolderFeed | None:
        """The folder's feed, up to date with `folder` (its row just read after the store's data
        version `version`) or, without it, with the store now; None when the folder is gone.
        Call in a DB thread."""
        feed = self.get(folder_id)
        if feed is not None and folder is not None and folder.uid_validity != feed.uid_validity:
            feed = None
        if feed is None:
            with self._loading(folder_id):  # sessions selecting a cold folder together read it once
                feed = self.get(folder_id)
                if feed is None or (folder is not None and folder.uid_validity != feed.uid_validity):
                    if folder is None:
                        version = imap_data_version()
                    snapshot = imap_snapshot(folder_id)
                    if snapshot is None:
                        return None
                    feed = FolderFeed(snapshot.folder, columns_from_snapshot(snapshot), version)
                    self._store(feed)
                    return feed
        if folder is not None:
            feed.recent_uid = max(feed.recent_uid, folder.recent_uid)
        if folder is not None and folder.highest_modseq <= feed.modseq:
            # Every change bumps the folder's MODSEQ: the feed is the store's state at that read.
            feed.version = version
            return feed
        return feed if self.advance(feed) else None

    def advance(self, feed: FolderFeed, *, need: int | None = None) -> bool:
        """Read the store's changes into the feed, unless it already holds MODSEQ `need`, or
        (need None: everything committed before this call) a read that began after this call
        has finished meanwhile. False when the folder is gone."""
        asked = time.monotonic()
        with feed.lock:
            if need is not None and feed.modseq >= need:
                return True
            if need is None and feed.read_started > asked:
                return True
            if feed.read():
                return True
        with self._lock:
            if self._entries.get(feed.folder_id) is feed:
                del self._entries[feed.folder_id]
        return False

    def _store(self, feed: FolderFeed) -> None:
        with self._lock:
            self._entries[feed.folder_id] = feed
            self._entries.move_to_end(feed.folder_id)
            total = sum(len(entry.columns.uids) for entry in self._entries.values())
            while len(self._entries) > 1 and (
                len(self._entries) > SNAPSHOT_CACHE_FOLDERS or total > SNAPSHOT_CACHE_MESSAGES
            ):
                _, dropped = self._entries.popitem(last=False)
                total -= len(dropped.columns.uids)


FEEDS = FeedCache()


def columns_from_snapshot(snapshot: Snapshot) -> Columns:
    return Columns(
        array("q", snapshot.uids),
        array("l", snapshot.flags),
        array("q", snapshot.modseqs),
        snapshot.keywords,
        snapshot.folder.highest_modseq,
    )


# folder id -> the first UID this process knows to be claimed \Recent already: a folder row read
# before a claim (a cached feed) must not send every later SELECT to the writer for nothing.
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

    def __init__(self, feed: FolderFeed, name: str, *, read_only: bool) -> None:
        self.folder_id = feed.folder_id
        self.name = name
        self.uid_validity = feed.uid_validity
        columns, self.uid_next = feed.state
        self.columns = columns.copy()
        self.read_only = read_only
        self.pending_expunge: set[int] = set()  # gone from the store, not yet announced
        self.recent_uid = feed.recent_uid  # the store's first unclaimed UID, as this view last read it
        self.recent = RecentUids()  # UIDs that are \Recent in this session (RFC 3501 §2.3.2)

    def _feed(self) -> FolderFeed | None:
        """The process's feed of this view's folder (other sessions' reads of it), when it is
        still cached and still the same folder (UIDVALIDITY)."""
        feed = FEEDS.get(self.folder_id)
        return feed if feed is not None and feed.uid_validity == self.uid_validity else None

    def recent_from(self) -> int:
        """The first UID not known to be claimed \\Recent by a read-write session."""
        feed = self._feed()
        known = feed.recent_uid if feed is not None else 0
        return max(self.recent_uid, known, RECENT_CLAIMED.get(self.folder_id, 0))

    def recent_unclaimed(self) -> int | None:
        """The highest UID in the view not yet claimed by any read-write session, or None."""
        uids = self.columns.uids
        if uids and uids[-1] >= self.recent_from():
            return uids[-1]
        return None

    def recent_positions(self) -> list[range]:
        """0-based view positions of the session's \\Recent messages, as ranges."""
        uids = self.columns.uids
        return [range(bisect_left(uids, low), bisect_left(uids, high + 1)) for low, high in self.recent.ranges]

    def recent_count(self) -> int:
        """How many messages are \\Recent in this session (the RECENT response, RFC 3501 §7.3.2)."""
        return sum(len(span) for span in self.recent_positions())

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

    def catch_up(self, need: int) -> Update | None:
        """Apply, in memory, the changes up to MODSEQ `need` that another session already read
        from the store; None when the process does not hold them (then call refresh)."""
        feed = self._feed()
        if feed is None or feed.modseq < need:
            return None
        return self._apply(feed)

    def catch_up_all(self) -> Update | None:
        """Everything committed before now, applied in memory, when nothing was committed to the
        store since the feed was last read (its data version is still the store's); None when
        that is not known (then call refresh)."""
        feed = self._feed()
        if feed is None or feed.version is None:
            return None
        if imap_data_version() != feed.version:
            return None
        return self._apply(feed)

    def _apply(self, feed: FolderFeed) -> Update | None:
        chain = feed.since(self.columns.modseq)
        if chain is None:
            return None
        self.recent_uid = max(self.recent_uid, feed.recent_uid)
        update = Update()
        for delta in chain:
            columns_apply(self.columns, delta, update)
            self.uid_next = max(self.uid_next, delta.uid_next)
        if len(chain) > 1:
            update.flag_changes = list(dict.fromkeys(update.flag_changes))
        self.pending_expunge.update(update.expunged)
        return update

    def refresh(self, need: int | None = None) -> Update | None:
        """Read the store's changes (call in a DB thread): those up to MODSEQ `need`, or without
        it everything committed before this call. None when the folder is gone or replaced."""
        feed = self._feed()
        if feed is None:
            feed = FEEDS.load(self.folder_id)
            if feed is None or feed.uid_validity != self.uid_validity:
                return None
        elif not FEEDS.advance(feed, need=need):
            return None
        update = self._apply(feed)
        if update is not None:
            return update
        # Too far behind for the kept deltas: read this view's own changes.
        changes = imap_changes(self.folder_id, self.columns.modseq)
        if changes is None or changes.folder.uid_validity != self.uid_validity:
            return None
        self.uid_next = changes.folder.uid_next
        self.recent_uid = max(self.recent_uid, changes.folder.recent_uid)
        update = columns_apply(self.columns, _delta(changes, self.columns.modseq))
        self.pending_expunge.update(update.expunged)
        return update
