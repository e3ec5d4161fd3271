"""LIST and LSUB (RFC 3501 §6.3.8-6.3.9) with LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819),
SPECIAL-USE (RFC 6154) and CHILDREN (RFC 3348) attributes.

Parents are implied by names ("a/b" without "a" lists "a" as \\NonExistent, like Dovecot).
"""

from __future__ import annotations

import re

from agents.imap.commands.status import COUNTED_ITEMS, status_counts, status_items, status_line
from agents.imap.errors import Bad
from agents.imap.parser_helpers import string_token
from agents.imap.registry import AUTH, Request, command
from agents.imap.session import Session
from store.selectors.imap import FolderRow, imap_folders, imap_listing_here, imap_subscriptions

SEPARATOR = "/"


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """ "*" matches anything, "%" anything but the separator; INBOX matches case-insensitively."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "%":
            parts.append("[^/]*")
        else:
            parts.append(re.escape(char))
    body = "".join(parts)
    return re.compile(body + r"\Z", re.S)


class _Listing:
    def __init__(self, folders: list[FolderRow], subscribed: set[str]) -> None:
        self.by_name = {folder.name: folder for folder in folders}
        self.names = set(self.by_name)
        self.subscribed = subscribed
        self.parents = _parents(self.names)
        self.subscribed_parents = _parents(subscribed)

    def all_names(self, *, with_subscribed: bool) -> list[str]:
        """Folders and the parents their names imply; with_subscribed adds subscribed names
        whose folders do not exist (RFC 3501 §6.3.6 keeps them on the list)."""
        names = self.names | self.parents
        if with_subscribed:
            names |= self.subscribed
        return sorted(names, key=lambda n: (n != "INBOX", n))


def _parents(names: set[str]) -> set[str]:
    parents: set[str] = set()
    for name in names:
        pieces = name.split(SEPARATOR)
        parents.update(SEPARATOR.join(pieces[:depth]) for depth in range(1, len(pieces)))
    return parents


def _listed_below(listing: _Listing, name: str, regexes: list[re.Pattern[str]]) -> bool:
    prefix = name + SEPARATOR
    return any(regex.match(child) for child in listing.subscribed if child.startswith(prefix) for regex in regexes)


def _folders_and_subscriptions(account_id: int) -> tuple[list[FolderRow], set[str]]:
    return imap_folders(account_id), imap_subscriptions(account_id)


@command("LIST", "LSUB", states=AUTH)
async def list_(session: Session, request: Request) -> str | None:
    args = request.args
    selection: set[str] = set()
    if request.name == "LIST" and isinstance(args.peek(), list):
        selection = {str(item).upper() for item in args.list()}
        if not selection <= {"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"}:
            raise Bad("Unknown LIST selection option")
        if "RECURSIVEMATCH" in selection and not selection - {"RECURSIVEMATCH", "REMOTE"}:
            # RFC 5258 §3: never alone, nor with REMOTE alone (which selects nothing of its own)
            raise Bad("RECURSIVEMATCH needs another selection option")
    reference = args.astring()
    token = args.next()
    patterns = [string_token(item) for item in token] if isinstance(token, list) else [string_token(token)]
    returns: set[str] = set()
    status_request: list[str] | None = None
    if args.more():
        if request.name != "LIST" or str(args.atom()).upper() != "RETURN":
            raise Bad("Expected RETURN")
        options = args.list()
        index = 0
        while index < len(options):
            option = str(options[index]).upper()
            if option == "STATUS":
                index += 1
                if index >= len(options) or not isinstance(options[index], list):
                    raise Bad("STATUS needs a list of items")
                status_request = status_items(options[index])  # type: ignore[arg-type]
            elif option in ("SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "MYRIGHTS"):
                returns.add(option)
            else:
                raise Bad("Unknown LIST return option")
            index += 1
    args.end()
    if request.name == "LIST" and patterns == [""]:
        session.untagged('LIST (\\Noselect) "/" ""')
        return None
    assert session.account_id is not None
    rows = imap_listing_here(session.account_id)  # SQLite: read here, on the event loop
    if rows is None:
        rows = await session.db.run(_folders_and_subscriptions, session.account_id)
    listing = _Listing(*rows)
    lsub = request.name == "LSUB"
    subscribed_only = lsub or "SUBSCRIBED" in selection
    show_subscribed = "SUBSCRIBED" in selection or "SUBSCRIBED" in returns
    regexes = []
    for pattern in patterns:
        full = session.mailbox_in(reference + pattern) if (reference + pattern) else ""
        regexes.append(pattern_regex(full))
    for name in listing.all_names(with_subscribed=subscribed_only):
        if not any(regex.match(name) for regex in regexes):
            continue
        folder = listing.by_name.get(name)
        is_subscribed = name in listing.subscribed
        attributes: list[str] = []
        if subscribed_only:
            if not is_subscribed:
                if "RECURSIVEMATCH" in selection and name in listing.subscribed_parents:
                    attributes.append("\\NonExistent" if folder is None else "")
                elif lsub and name in listing.subscribed_parents and not _listed_below(listing, name, regexes):
                    # RFC 3501 §6.3.9: "%" stops above a subscribed child, which then shows
                    # through its parent, \\Noselect; "*" lists the child itself instead.
                    attributes.append("\\Noselect")
                else:
                    continue
        if "SPECIAL-USE" in selection and (folder is None or not folder.special_use.startswith("\\")):
            continue
        if folder is None:
            attributes.append("\\NonExistent" if not lsub else "\\Noselect")
        if not lsub:
            attributes.append("\\HasChildren" if name in listing.parents else "\\HasNoChildren")
        if folder is not None and folder.special_use.startswith("\\"):
            attributes.append(folder.special_use)
        if show_subscribed and is_subscribed:
            attributes.append("\\Subscribed")
        text = " ".join(attribute for attribute in dict.fromkeys(attributes) if attribute)
        line = b"* " + f'{request.name} ({text}) "/" '.encode() + session.mailbox_out(name)
        if "RECURSIVEMATCH" in selection and name in listing.subscribed_parents:
            line += b' ("CHILDINFO" ("SUBSCRIBED"))'
        session.send(line + b"\r\n")
        if status_request is not None and folder is not None:
            counted = COUNTED_ITEMS.intersection(status_request)
            counts = await session.db.run(status_counts, folder, status_request) if counted else {}
            session.untagged(status_line(session, folder, status_request, counts))
    return None
