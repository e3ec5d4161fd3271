"""SEARCH programs (RFC 3501 §6.4.4; MODSEQ RFC 7162 §3.1.5): parsing into a tree and evaluation.

Flag, keyword, sequence, UID and MODSEQ keys are answered from the session's view; dates and
sizes by one indexed query each; text keys (SUBJECT, FROM, BODY, TEXT, HEADER...) through the
substring index (store.selectors.imap.imap_text_search), never by reading blobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q

from agents.imap.errors import Bad, No
from agents.imap.folder_cache import TEXT_COLUMNS as META_TEXT_COLUMNS
from agents.imap.folder_cache import FolderMeta
from agents.imap.parser_helpers import date_parse, string_token
from agents.imap.protocol.parser import Args, Atom, Token, ascii_digits
from agents.imap.protocol.seqset import SeqSet, select_positions
from store.models import Flag, Message
from store.selectors.imap import imap_column_search, imap_text_search

MAX_SEARCH_DEPTH = 32
CHARSETS = {"UTF-8", "US-ASCII", "UTF8"}

FLAG_KEYS = {
    "ANSWERED": (Flag.ANSWERED, True),
    "DELETED": (Flag.DELETED, True),
    "DRAFT": (Flag.DRAFT, True),
    "FLAGGED": (Flag.FLAGGED, True),
    "SEEN": (Flag.SEEN, True),
    "UNANSWERED": (Flag.ANSWERED, False),
    "UNDELETED": (Flag.DELETED, False),
    "UNDRAFT": (Flag.DRAFT, False),
    "UNFLAGGED": (Flag.FLAGGED, False),
    "UNSEEN": (Flag.SEEN, False),
}
TEXT_KEYS = {
    "BCC": ("bcc_display",),
    "CC": ("cc_display",),
    "FROM": ("from_display",),
    "TO": ("to_display",),
    "SUBJECT": ("subject",),
    "BODY": ("search_body",),
    "TEXT": ("search_headers", "search_body"),
}
DATE_KEYS = {
    "BEFORE": ("internal_date", "lt"),
    "ON": ("internal_date", "on"),
    "SINCE": ("internal_date", "gte"),
    "SENTBEFORE": ("date_sent", "lt"),
    "SENTON": ("date_sent", "on"),
    "SENTSINCE": ("date_sent", "gte"),
}


@dataclass
class Node:
    kind: str  # and, or, not, all, none, flag, keyword, seq, uid, text, header, column, modseq
    value: Any = None
    children: tuple[Node, ...] = ()


def search_parse(args: Args) -> tuple[Node, bool]:
    """The search program of the remaining arguments; also whether it used MODSEQ."""
    keys: list[Node] = []
    state = {"modseq": False}
    if not args.more():
        raise Bad("Missing search keys")
    while args.more():
        keys.append(_key(args, 0, state))
    return (keys[0] if len(keys) == 1 else Node("and", children=tuple(keys))), state["modseq"]


def charset_check(args: Args) -> None:
    token = args.peek()
    if isinstance(token, Atom) and token.upper() == "CHARSET":
        args.next()
        charset = args.astring().upper()
        if charset not in CHARSETS:
            raise No("Unsupported charset", "BADCHARSET (UTF-8 US-ASCII)")


def _key(args: Args, depth: int, state: dict[str, bool]) -> Node:
    if depth > MAX_SEARCH_DEPTH:
        raise Bad("Search program nested too deeply")
    token = args.next()
    if isinstance(token, list):
        inner = Args(token)
        children = []
        while inner.more():
            children.append(_key(inner, depth + 1, state))
        if not children:
            raise Bad("Empty search key list")
        return Node("and", children=tuple(children))
    if not isinstance(token, Atom):
        raise Bad("Invalid search key")
    name = token.upper()
    if name == "ALL":
        return Node("all")
    if name in FLAG_KEYS:
        return Node("flag", FLAG_KEYS[name])
    if name in ("RECENT", "OLD"):
        return Node("recent", name == "RECENT")  # \Recent is the session's (RFC 3501 §2.3.2)
    if name == "NEW":
        return Node("and", children=(Node("recent", True), Node("flag", (Flag.SEEN, False))))
    if name in ("KEYWORD", "UNKEYWORD"):
        return Node("keyword", (args.atom(), name == "KEYWORD"))
    if name == "NOT":
        return Node("not", children=(_key(args, depth + 1, state),))
    if name == "OR":
        first = _key(args, depth + 1, state)
        return Node("or", children=(first, _key(args, depth + 1, state)))
    if name in TEXT_KEYS:
        return Node("text", (TEXT_KEYS[name], args.astring()))
    if name == "HEADER":
        return Node("header", (args.astring(), args.astring()))
    if name in DATE_KEYS:
        column, comparison = DATE_KEYS[name]
        return Node("column", _date_condition(column, comparison, date_parse(args.astring())))
    if name in ("LARGER", "SMALLER"):
        size = args.number()
        return Node("column", Q(size__gt=size) if name == "LARGER" else Q(size__lt=size))
    if name == "UID":
        return Node("uid", SeqSet.parse(args.atom()))
    if name == "MODSEQ":
        state["modseq"] = True
        if isinstance(args.peek(), (str, bytes)) and not ascii_digits(str(args.peek())):
            args.astring()  # entry name and type (RFC 7162 §3.1.5): one MODSEQ per message here
            args.atom()
        return Node("modseq", args.number())
    if name == "$":
        return Node("saved")
    if ascii_digits(name[:1]) or name[:1] == "*":
        return Node("seq", SeqSet.parse(name))
    raise Bad(f"Unknown search key {name[:40]}")


def _date_condition(column: str, comparison: str, day: datetime) -> Q:
    start = day.replace(tzinfo=UTC)
    if comparison == "lt":
        return Q(**{f"{column}__lt": start})
    if comparison == "gte":
        return Q(**{f"{column}__gte": start})
    return Q(**{f"{column}__gte": start, f"{column}__lt": start + timedelta(days=1)})


class Evaluator:
    """Evaluates a tree to a set of view positions. Runs in a DB thread."""

    def __init__(  # type: ignore[no-untyped-def]
        self, folder_id: int, uids, flags, modseqs, keywords, saved: list[int], meta=None, recent=frozenset()
    ) -> None:
        self.folder_id = folder_id
        self.meta: FolderMeta | None = meta  # covers every uid of the view when given
        self.uids = uids
        self.flags = flags
        self.modseqs = modseqs
        self.keywords = keywords
        self.saved = saved
        self.recent: set[int] | frozenset[int] = recent  # view positions
        self.count = len(uids)
        self.index_of: dict[int, int] | None = None

    def positions_of_uids(self, found: set[int]) -> set[int]:
        if self.index_of is None:
            self.index_of = {uid: i for i, uid in enumerate(self.uids)}
        index_of = self.index_of
        assert index_of is not None
        return {index_of[uid] for uid in found if uid in index_of}

    def meta_positions(self, indexes: list[int]) -> set[int]:
        meta = self.meta
        assert meta is not None
        if not indexes:
            return set()
        if self.uids == meta.uids:
            return set(indexes)
        meta_uids = meta.uids
        return self.positions_of_uids({meta_uids[i] for i in indexes})

    def run(self, node: Node) -> set[int]:
        kind = node.kind
        if kind == "all":
            return set(range(self.count))
        if kind == "none":
            return set()
        if kind == "and":
            result: set[int] | None = None
            # cheap keys first; text keys last so they can be skipped when nothing is left
            for child in sorted(node.children, key=lambda c: c.kind in ("text", "header", "column")):
                found = self.run(child)
                result = found if result is None else result & found
                if not result:
                    return set()
            return result or set()
        if kind == "or":
            return self.run(node.children[0]) | self.run(node.children[1])
        if kind == "not":
            return set(range(self.count)) - self.run(node.children[0])
        if kind == "flag":
            bit, wanted = node.value
            if not bit:
                return set(range(self.count))
            if wanted:
                return {i for i, bits in enumerate(self.flags) if bits & bit}
            return {i for i, bits in enumerate(self.flags) if not bits & bit}
        if kind == "recent":
            having = set(self.recent)
            return having if node.value else set(range(self.count)) - having
        if kind == "keyword":
            word, wanted = node.value
            having = self.positions_of_uids({uid for uid, words in self.keywords.items() if word in words})
            return having if wanted else set(range(self.count)) - having
        if kind == "seq":
            assert isinstance(node.value, SeqSet)
            return {
                i for low, high in node.value.resolve(self.count) for i in range(max(low, 1) - 1, min(high, self.count))
            }
        if kind == "uid":
            assert isinstance(node.value, SeqSet)
            star = self.uids[-1] if self.count else 0
            return set(select_positions(self.uids, node.value.resolve(star)))
        if kind == "modseq":
            threshold = int(node.value)
            return {i for i, modseq in enumerate(self.modseqs) if modseq >= threshold}
        if kind == "saved":
            return self.positions_of_uids(set(self.saved))
        if kind == "column":
            assert isinstance(node.value, Q)
            return self.positions_of_uids(imap_column_search(self.folder_id, node.value))
        if kind == "text":
            columns, needle = node.value
            if self.meta is not None and len(columns) == 1 and columns[0] in META_TEXT_COLUMNS:
                return self.meta_positions(self.meta.text_search(columns[0], needle))
            return self.positions_of_uids(imap_text_search(self.folder_id, columns, needle))
        if kind == "header":
            return self.positions_of_uids(_header_search(self.folder_id, *node.value))
        raise Bad("Unknown search node")


MEMORY_KINDS = frozenset(
    {"all", "none", "and", "or", "not", "flag", "keyword", "seq", "uid", "modseq", "saved", "recent"}
)


def uses_meta(node: Node) -> bool:
    """Whether the program has a header text key the folder cache answers."""
    if node.kind == "text":
        return len(node.value[0]) == 1 and node.value[0][0] in META_TEXT_COLUMNS
    return any(uses_meta(child) for child in node.children)


def uses_recent(node: Node) -> bool:
    return node.kind == "recent" or any(uses_recent(child) for child in node.children)


def in_memory(node: Node) -> bool:
    """Whether the program is answered without the store once the folder cache is loaded."""
    if node.kind == "text":
        return len(node.value[0]) == 1 and node.value[0][0] in META_TEXT_COLUMNS
    return node.kind in MEMORY_KINDS and all(in_memory(child) for child in node.children)


def _header_search(folder_id: int, field: str, needle: str) -> set[int]:
    """HEADER field string: the index narrows to messages containing the string; each is checked."""
    prefix = field.casefold() + ":"
    folded = needle.casefold()
    candidates = imap_text_search(folder_id, ("search_headers",), needle) if needle else None
    query = Message.objects.filter(folder_id=folder_id)
    if candidates is not None:
        if not candidates:
            return set()
        query = query.filter(uid__in=sorted(candidates)[:50000])
    found: set[int] = set()
    for uid, headers in query.values_list("uid", "search_headers"):
        for line in headers.split("\n"):
            if line.casefold().startswith(prefix) and folded in line[len(prefix) :].casefold():
                found.add(uid)
                break
    return found


def string_value(token: Token) -> str:
    return string_token(token)
