"""IMAP SEARCH (RFC 3501 §6.4.4) from the webmail's search form, in one folder or all.

Every user string goes to imapclient as one criterion value: imapclient quotes it, or sends it
as a literal with CHARSET UTF-8 when it is not ASCII, so quotes and parentheses are data, never
syntax. Line breaks and NUL are refused before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from imapclient.exceptions import IMAPClientError

from webmail.imap.folders import folders_list
from webmail.imap.messages import Summary, cached_uids, state_key, summaries_by_uid
from webmail.imap.pool import Connection

PAGE_SIZE = 50  # matches shown per page when the caller does not say
MAX_QUERY_LENGTH = 500


class QueryInvalid(ValueError):
    pass


@dataclass
class Query:
    text: str = ""  # anywhere in the message (TEXT)
    sender: str = ""
    recipient: str = ""
    subject: str = ""
    body: str = ""
    since: date | None = None
    before: date | None = None
    unread: bool = False
    flagged: bool = False

    def criteria(self) -> list:
        criteria: list = []
        for key, value in (
            ("TEXT", self.text),
            ("FROM", self.sender),
            ("TO", self.recipient),
            ("SUBJECT", self.subject),
            ("BODY", self.body),
        ):
            if value:
                if any(c in value for c in "\r\n\x00") or len(value) > MAX_QUERY_LENGTH:
                    raise QueryInvalid(key)
                criteria += [key, value]
        if self.since:
            criteria += ["SINCE", self.since]
        if self.before:
            criteria += ["BEFORE", self.before]
        if self.unread:
            criteria.append("UNSEEN")
        if self.flagged:
            criteria.append("FLAGGED")
        return criteria or ["ALL"]

    def charset(self) -> str | None:
        values = (self.text, self.sender, self.recipient, self.subject, self.body)
        return None if all(value.isascii() for value in values) else "UTF-8"

    def empty(self) -> bool:
        values = (self.text, self.sender, self.recipient, self.subject, self.body)
        return not any(values) and not (self.since or self.before or self.unread or self.flagged)


@dataclass
class FolderHits:
    folder: str
    count: int
    messages: list[Summary]
    rows: list[tuple[Summary, str]] = field(default_factory=list)  # with each message's link


@dataclass
class Results:
    hits: list[FolderHits]  # the folders with matches on this page, in search order
    total: int  # matches in every searched folder
    page: int = 1
    page_count: int = 1


def _newest_first(connection: Connection, criteria: list, charset: str | None) -> list[int]:
    return sorted(connection.imap.search(criteria, charset=charset), reverse=True)


def search(
    connection: Connection,
    query: Query,
    folders: list[str] | None,
    *,
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> Results:
    """Search `folders` (None: every selectable folder), newest matches first, one page of them.

    Each folder costs a SELECT and one SEARCH (its UID list is kept per folder state, so turning
    pages repeats neither); only the messages on the page are fetched.
    """
    if folders is None:
        folders = [folder.name for folder in folders_list(connection, counts=False) if folder.selectable]
    criteria = query.criteria()
    charset = query.charset()
    found: list[tuple[str, list[int]]] = []
    for folder in folders:
        try:
            info = connection.select(folder)
            key = (folder, *state_key(info), "search", charset, repr(criteria))
            uids = cached_uids(connection, key, lambda: _newest_first(connection, criteria, charset))
        except IMAPClientError:
            continue
        if uids:
            found.append((folder, uids))
    total = sum(len(uids) for _folder, uids in found)
    page_count = max(1, -(-total // per_page))
    page = min(max(page, 1), page_count)
    start, end = (page - 1) * per_page, page * per_page
    hits: list[FolderHits] = []
    offset = 0
    for folder, uids in found:
        visible = uids[max(start - offset, 0) : max(end - offset, 0)]
        offset += len(uids)
        if not visible:
            continue
        if connection.selected != folder:
            connection.select(folder)
        hits.append(FolderHits(folder=folder, count=len(uids), messages=summaries_by_uid(connection, visible)))
    return Results(hits=hits, total=total, page=page, page_count=page_count)
