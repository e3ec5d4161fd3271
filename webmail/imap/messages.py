"""Message lists, message content and message actions over IMAP.

Listing never fetches a whole folder: the default order (newest arrival first) pages by
sequence numbers straight from SELECT's EXISTS, so page 1 of a 100k folder costs one SELECT and
one FETCH of 50 messages. Other orders and filters use server-side SORT (RFC 5256) or SEARCH; their
UID lists are kept per connection and reused while the folder's UIDNEXT/EXISTS/HIGHESTMODSEQ are
unchanged. Conversations use THREAD=REFERENCES (RFC 5256).

imapclient 4.1.0's fetch() raises ValueError for string message sets such as "1:*" (it filters
the response with int()), so every FETCH here names its messages as a list of integers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from webmail.imap.pool import Connection
from webmail.mime.headers import Mailbox, envelope_mailboxes, header_text
from webmail.mime.structure import Part, has_attachments, structure_parse

LIST_ITEMS = [b"UID", b"FLAGS", b"ENVELOPE", b"RFC822.SIZE", b"INTERNALDATE", b"BODYSTRUCTURE"]
SORT_KEYS = {
    "arrival": ["REVERSE", "ARRIVAL"],
    "date": ["REVERSE", "DATE"],
    "date_asc": ["DATE"],
    "from": ["FROM"],
    "subject": ["SUBJECT"],
    "size": ["REVERSE", "SIZE"],
}
FILTERS = {"all": ["ALL"], "unread": ["UNSEEN"], "flagged": ["FLAGGED"]}
UID_CACHE_ENTRIES = 8
SUMMARY_CACHE_ENTRIES = 5000  # message summaries kept per connection (a few hundred bytes each)


@dataclass
class Summary:
    uid: int
    flags: frozenset[str]
    subject: str
    sender: list[Mailbox]
    to: list[Mailbox]
    date: datetime | None
    size: int
    has_attachments: bool
    thread_size: int = 1
    message_id: str = ""

    @property
    def seen(self) -> bool:
        return "\\Seen" in self.flags

    @property
    def flagged(self) -> bool:
        return "\\Flagged" in self.flags

    @property
    def answered(self) -> bool:
        return "\\Answered" in self.flags

    @property
    def draft(self) -> bool:
        return "\\Draft" in self.flags


@dataclass
class Page:
    folder: str
    messages: list[Summary]
    total: int  # messages (or conversations) matching
    page: int
    page_count: int
    uid_validity: int = 0
    uid_next: int = 0


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def summary_from_fetch(uid: int, data: dict[bytes, Any]) -> Summary:
    envelope = data.get(b"ENVELOPE")
    structure = data.get(b"BODYSTRUCTURE")
    date = envelope.date if envelope is not None and envelope.date else data.get(b"INTERNALDATE")
    return Summary(
        uid=uid,
        flags=_flags(data),
        subject=header_text(envelope.subject) if envelope is not None else "",
        sender=envelope_mailboxes(envelope.from_) if envelope is not None else [],
        to=envelope_mailboxes(envelope.to) if envelope is not None else [],
        date=date,
        size=int(data.get(b"RFC822.SIZE", 0)),
        has_attachments=has_attachments(structure_parse(structure)) if structure else False,
        message_id=_text(envelope.message_id) if envelope is not None else "",
    )


def fetch_uids(connection: Connection, uids: Sequence[int], items: Iterable[bytes]) -> dict[int, dict[bytes, Any]]:
    if not uids:
        return {}
    return connection.imap.fetch(list(uids), list(items))


def _summary_cache(connection: Connection) -> OrderedDict[tuple[str, int, int], Summary]:
    cache: OrderedDict[tuple[str, int, int], Summary] = connection.cache.setdefault("summaries", OrderedDict())
    return cache


def _flags(data: dict[bytes, Any]) -> frozenset[str]:
    return frozenset(_text(flag) for flag in data.get(b"FLAGS", ()))


def _summaries(connection: Connection, cached: dict[int, Summary], full: dict[int, dict[bytes, Any]]) -> None:
    """Keep the new summaries (what a UID's message says never changes within its UIDVALIDITY)."""
    cache = _summary_cache(connection)
    folder = connection.selected or ""
    validity = int(connection.selected_info.get(b"UIDVALIDITY", 0) or 0)
    for uid, data in full.items():
        summary = summary_from_fetch(uid, data)
        cached[uid] = replace(summary)  # callers may annotate theirs (thread_size)
        if folder and validity:
            cache[(folder, validity, uid)] = summary
    while len(cache) > SUMMARY_CACHE_ENTRIES:
        cache.popitem(last=False)


def _cached_summaries(connection: Connection, uids: Iterable[int]) -> dict[int, Summary]:
    cache = _summary_cache(connection)
    folder = connection.selected or ""
    validity = int(connection.selected_info.get(b"UIDVALIDITY", 0) or 0)
    found = {}
    if folder and validity:
        for uid in uids:
            summary = cache.get((folder, validity, uid))
            if summary is not None:
                cache.move_to_end((folder, validity, uid))
                found[uid] = summary
    return found


def summaries_by_uid(connection: Connection, uids: Sequence[int]) -> list[Summary]:
    """Summaries of the selected folder's `uids`, in that order (expunged ones left out).

    Envelopes and structures already seen on this connection are not fetched again: only their
    FLAGS are, which is a fraction of the bytes and of imapclient's parsing.
    """
    cached = _cached_summaries(connection, uids)
    flags = fetch_uids(connection, [uid for uid in uids if uid in cached], [b"FLAGS"])
    current = {uid: replace(cached[uid], flags=_flags(data)) for uid, data in flags.items() if uid in cached}
    missing = [uid for uid in uids if uid not in cached]
    _summaries(connection, current, fetch_uids(connection, missing, LIST_ITEMS))
    return [current[uid] for uid in uids if uid in current]


def _summaries_by_sequence(connection: Connection, first: int, last: int) -> list[Summary]:
    client = connection.imap
    client.use_uid = False
    try:
        flags = client.fetch(list(range(first, last + 1)), [b"UID", b"FLAGS"])
    finally:
        client.use_uid = True
    uids = sorted((int(data[b"UID"]) for data in flags.values() if b"UID" in data), reverse=True)
    by_uid = {int(data[b"UID"]): data for data in flags.values() if b"UID" in data}
    cached = _cached_summaries(connection, uids)
    current = {uid: replace(cached[uid], flags=_flags(by_uid[uid])) for uid in uids if uid in cached}
    missing = [uid for uid in uids if uid not in cached]
    if missing:
        _summaries(connection, current, fetch_uids(connection, missing, LIST_ITEMS))
    return [current[uid] for uid in uids if uid in current]


def state_key(info: dict[bytes, Any]) -> tuple:
    return (info.get(b"UIDVALIDITY"), info.get(b"UIDNEXT"), info.get(b"EXISTS"), info.get(b"HIGHESTMODSEQ"))


def cached_uids(connection: Connection, key: tuple, compute: Any) -> Any:
    uid_cache: dict = connection.cache.setdefault("uids", {})
    if key in uid_cache:
        return uid_cache[key]
    value = compute()
    if len(uid_cache) >= UID_CACHE_ENTRIES:
        uid_cache.pop(next(iter(uid_cache)))
    uid_cache[key] = value
    return value


def _page_bounds(total: int, page: int, per_page: int) -> tuple[int, int]:
    page_count = max(1, -(-total // per_page))
    return min(max(page, 1), page_count), page_count


def messages_page(
    connection: Connection,
    folder: str,
    *,
    page: int = 1,
    per_page: int = 50,
    sort: str = "arrival",
    filter_name: str = "all",
    threads: bool = False,
) -> Page:
    info = connection.select(folder)
    exists = int(info.get(b"EXISTS", 0))
    result = Page(
        folder=folder,
        messages=[],
        total=exists,
        page=1,
        page_count=1,
        uid_validity=int(info.get(b"UIDVALIDITY", 0)),
        uid_next=int(info.get(b"UIDNEXT", 0) or 0),
    )
    if exists == 0:
        return result
    sort = sort if sort in SORT_KEYS else "arrival"
    filter_name = filter_name if filter_name in FILTERS else "all"
    if threads and connection.has("THREAD=REFERENCES"):
        return _threads_page(connection, result, info, page, per_page, filter_name)
    if sort == "arrival" and filter_name == "all":
        result.page, result.page_count = _page_bounds(exists, page, per_page)
        last = exists - (result.page - 1) * per_page
        first = max(1, last - per_page + 1)
        result.messages = _summaries_by_sequence(connection, first, last)
        return result
    key = (folder, *state_key(info), sort, filter_name)
    if connection.has("SORT"):
        uids = cached_uids(connection, key, lambda: connection.imap.sort(SORT_KEYS[sort], FILTERS[filter_name]))
    else:
        uids = cached_uids(connection, key, lambda: sorted(connection.imap.search(FILTERS[filter_name]), reverse=True))
    result.total = len(uids)
    result.page, result.page_count = _page_bounds(len(uids), page, per_page)
    start = (result.page - 1) * per_page
    result.messages = summaries_by_uid(connection, uids[start : start + per_page])
    return result


def _flatten(thread: Any) -> list[int]:
    out: list[int] = []
    for item in thread:
        if isinstance(item, int):
            out.append(item)
        else:
            out.extend(_flatten(item))
    return out


def _threads_page(connection: Connection, result: Page, info: dict, page: int, per_page: int, filter_name: str) -> Page:
    key = (result.folder, *state_key(info), "threads", filter_name)

    def compute() -> list[list[int]]:
        threads = [_flatten(thread) for thread in connection.imap.thread("REFERENCES", FILTERS[filter_name])]
        threads = [thread for thread in threads if thread]
        threads.sort(key=max, reverse=True)
        return threads

    threads = cached_uids(connection, key, compute)
    result.total = len(threads)
    result.page, result.page_count = _page_bounds(len(threads), page, per_page)
    start = (result.page - 1) * per_page
    visible = threads[start : start + per_page]
    newest = [max(thread) for thread in visible]
    summaries = {summary.uid: summary for summary in summaries_by_uid(connection, newest)}
    for thread, uid in zip(visible, newest, strict=True):
        if uid in summaries:
            summaries[uid].thread_size = len(thread)
            result.messages.append(summaries[uid])
    return result


def thread_uids(connection: Connection, folder: str, uid: int) -> list[int]:
    """The UIDs of the conversation that holds `uid`, oldest first."""
    connection.select(folder, refresh=False)
    if not connection.has("THREAD=REFERENCES"):
        return [uid]
    for thread in connection.imap.thread("REFERENCES", ["ALL"]):
        uids = _flatten(thread)
        if uid in uids:
            return sorted(uids)
    return [uid]


@dataclass
class Loaded:
    """One message as the reader needs it, everything from a single UID FETCH."""

    uid: int
    folder: str
    flags: frozenset[str]
    header_bytes: bytes
    structure: Part
    size: int
    internal_date: datetime | None
    parts: dict[str, bytes] = field(default_factory=dict)  # section -> raw (still CTE-encoded) bytes


def message_load(connection: Connection, folder: str, uid: int, text_sections: Iterable[str] = ()) -> Loaded | None:
    """Fetch flags, header, structure and the given text sections of one message (without \\Seen)."""
    connection.select(folder, refresh=False)
    items = [b"FLAGS", b"BODYSTRUCTURE", b"BODY.PEEK[HEADER]", b"RFC822.SIZE", b"INTERNALDATE"]
    items += [f"BODY.PEEK[{section}]".encode() for section in text_sections]
    fetched = fetch_uids(connection, [uid], items)
    data = fetched.get(uid)
    if data is None:
        return None
    parts = {}
    for section in text_sections:
        parts[section] = data.get(f"BODY[{section}]".encode()) or b""
    return Loaded(
        uid=uid,
        folder=folder,
        flags=frozenset(_text(flag) for flag in data.get(b"FLAGS", ())),
        header_bytes=data.get(b"BODY[HEADER]") or b"",
        structure=structure_parse(data.get(b"BODYSTRUCTURE")),
        size=int(data.get(b"RFC822.SIZE", 0)),
        internal_date=data.get(b"INTERNALDATE"),
        parts=parts,
    )


def sections_fetch(connection: Connection, folder: str, uid: int, sections: Iterable[str]) -> dict[str, bytes]:
    """Raw bytes of body sections ("" for the whole message), without setting \\Seen."""
    sections = list(sections)
    connection.select(folder, refresh=False)
    items = [f"BODY.PEEK[{section}]".encode() for section in sections]
    data = fetch_uids(connection, [uid], items).get(uid, {})
    return {section: data.get(f"BODY[{section}]".encode()) or b"" for section in sections}


def flags_change(connection: Connection, folder: str, uids: Sequence[int], flag: str, add: bool) -> None:
    if not uids:
        return
    connection.select(folder, refresh=False)
    if add:
        connection.imap.add_flags(list(uids), [flag.encode()], silent=True)
    else:
        connection.imap.remove_flags(list(uids), [flag.encode()], silent=True)


def messages_move(connection: Connection, folder: str, uids: Sequence[int], target: str) -> None:
    if not uids or folder == target:
        return
    connection.select(folder, refresh=False)
    if connection.has("MOVE"):
        connection.imap.move(list(uids), target)
    else:
        connection.imap.copy(list(uids), target)
        connection.imap.add_flags(list(uids), [b"\\Deleted"], silent=True)
        connection.imap.uid_expunge(list(uids))


def messages_copy(connection: Connection, folder: str, uids: Sequence[int], target: str) -> None:
    if not uids:
        return
    connection.select(folder, refresh=False)
    connection.imap.copy(list(uids), target)


def messages_expunge(connection: Connection, folder: str, uids: Sequence[int]) -> None:
    """Delete for good (from Trash and Junk, or drafts being replaced)."""
    if not uids:
        return
    connection.select(folder, refresh=False)
    connection.imap.add_flags(list(uids), [b"\\Deleted"], silent=True)
    if connection.has("UIDPLUS"):
        connection.imap.uid_expunge(list(uids))
    else:
        connection.imap.expunge()


def folder_empty(connection: Connection, folder: str) -> int:
    connection.select(folder)
    uids = connection.imap.search(["ALL"])
    messages_expunge(connection, folder, uids)
    return len(uids)


def append(connection: Connection, folder: str, raw: bytes, flags: Sequence[str]) -> int | None:
    """APPEND and return the new UID from APPENDUID (RFC 4315) when the server says it."""
    response = connection.imap.append(folder, raw, flags=[flag.encode() for flag in flags])
    text = _text(response)
    if text.startswith("[APPENDUID "):
        fields = text[1:].split("]", 1)[0].split()
        if len(fields) == 3 and fields[2].isascii() and fields[2].isdigit():
            return int(fields[2])
    return None
