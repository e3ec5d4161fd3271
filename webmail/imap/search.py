"""IMAP SEARCH (RFC 3501 §6.4.4) from the webmail's search form, in one folder or all.

Every user string goes to imapclient as one criterion value: imapclient quotes it, or sends it
as a literal with CHARSET UTF-8 when it is not ASCII, so quotes and parentheses are data, never
syntax. Line breaks and NUL are refused before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from imapclient.exceptions import IMAPClientError

from webmail.imap.folders import folders_list
from webmail.imap.messages import Summary, summaries_by_uid
from webmail.imap.pool import Connection

MAX_RESULTS = 100  # newest matches shown; the count says how many there are
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


def search(connection: Connection, query: Query, folders: list[str] | None) -> list[FolderHits]:
    """Search `folders` (None: every selectable folder); newest matches first, MAX_RESULTS in all."""
    if folders is None:
        folders = [folder.name for folder in folders_list(connection, counts=False) if folder.selectable]
    criteria = query.criteria()
    charset = query.charset()
    hits: list[FolderHits] = []
    remaining = MAX_RESULTS
    for folder in folders:
        try:
            connection.select(folder)
            uids = connection.imap.search(criteria, charset=charset)
        except IMAPClientError:
            continue
        if not uids:
            continue
        newest = sorted(uids, reverse=True)[: max(remaining, 0)]
        remaining -= len(newest)
        hits.append(FolderHits(folder=folder, count=len(uids), messages=summaries_by_uid(connection, newest)))
    return hits
