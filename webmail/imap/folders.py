"""Folder list with counts and special uses (RFC 6154), and folder management over IMAP."""

from __future__ import annotations

import time
from dataclasses import dataclass

from imapclient.exceptions import IMAPClientError

from webmail.imap.pool import Connection

FOLDER_CACHE_SECONDS = 5.0  # the sidebar is rebuilt at most this often per session
SPECIAL_USES = ("\\Inbox", "\\Drafts", "\\Sent", "\\Trash", "\\Junk", "\\Archive")
# Names used when the server does not mark special-use folders, and to create missing ones.
SPECIAL_DEFAULT_NAMES = {
    "\\Drafts": "Drafts",
    "\\Sent": "Sent",
    "\\Trash": "Trash",
    "\\Junk": "Junk",
    "\\Archive": "Archive",
}
_FALLBACK_NAMES = {
    "drafts": "\\Drafts",
    "sent": "\\Sent",
    "sent items": "\\Sent",
    "sent messages": "\\Sent",
    "trash": "\\Trash",
    "deleted items": "\\Trash",
    "junk": "\\Junk",
    "spam": "\\Junk",
    "archive": "\\Archive",
}
MAX_FOLDER_NAME = 200
FORBIDDEN_IN_FOLDER_NAME = ("\r", "\n", "\x00", "*", "%")


class FolderNameInvalid(ValueError):
    pass


@dataclass
class Folder:
    name: str
    delimiter: str
    flags: tuple[str, ...]
    special_use: str  # "\\Sent" ... or "" ; "\\Inbox" for INBOX
    subscribed: bool = True
    total: int = 0
    unseen: int = 0

    @property
    def selectable(self) -> bool:
        return "\\noselect" not in {flag.lower() for flag in self.flags}

    @property
    def depth(self) -> int:
        return self.name.count(self.delimiter) if self.delimiter else 0

    @property
    def leaf(self) -> str:
        return self.name.rsplit(self.delimiter, 1)[-1] if self.delimiter else self.name


def folder_name_check(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_FOLDER_NAME or any(c in name for c in FORBIDDEN_IN_FOLDER_NAME):
        raise FolderNameInvalid(name)
    return name


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def folders_list(connection: Connection, *, counts: bool = True, fresh: bool = False) -> list[Folder]:
    """Every folder, INBOX first then special-use folders then the rest by name."""
    cached = connection.cache.get("folders")
    if cached and not fresh and time.monotonic() - cached[0] < FOLDER_CACHE_SECONDS and (cached[2] or not counts):
        return cached[1]
    client = connection.imap
    subscribed = {name for _flags, _delim, name in client.list_sub_folders()}
    folders: list[Folder] = []
    for flags, delimiter, name in client.list_folders():
        flag_texts = tuple(_text(flag) for flag in flags)
        special = next((f for f in flag_texts if f in SPECIAL_USES), "")
        if name.upper() == "INBOX":
            name, special = "INBOX", "\\Inbox"
        folders.append(Folder(name=name, delimiter=_text(delimiter or b""), flags=flag_texts, special_use=special))
    marked = {folder.special_use for folder in folders if folder.special_use}
    for folder in folders:
        fallback = _FALLBACK_NAMES.get(folder.name.lower())
        if not folder.special_use and fallback and fallback not in marked:
            folder.special_use = fallback
            marked.add(fallback)
        folder.subscribed = folder.name in subscribed or folder.name == "INBOX"
    if counts:
        for folder in folders:
            if not folder.selectable:
                continue
            try:
                status = client.folder_status(folder.name, [b"MESSAGES", b"UNSEEN"])
            except IMAPClientError:
                continue
            folder.total = int(status.get(b"MESSAGES", 0))
            folder.unseen = int(status.get(b"UNSEEN", 0))
    order = {use: index for index, use in enumerate(SPECIAL_USES)}
    folders.sort(key=lambda f: (order.get(f.special_use, len(order)), f.name.lower()))
    connection.cache["folders"] = (time.monotonic(), folders, counts)
    return folders


def folders_invalidate(connection: Connection) -> None:
    connection.cache.pop("folders", None)


def special_folder(connection: Connection, use: str, *, create: bool = True) -> str:
    """The name of the folder with special use `use` ("\\Sent"...), created when missing."""
    for folder in folders_list(connection, counts=False):
        if folder.special_use == use:
            return folder.name
    name = SPECIAL_DEFAULT_NAMES[use]
    if create:
        try:
            connection.imap.create_folder(name)
            connection.imap.subscribe_folder(name)
        except IMAPClientError:
            pass  # created meanwhile by another client
        folders_invalidate(connection)
    return name


def folder_create(connection: Connection, name: str) -> None:
    name = folder_name_check(name)
    connection.imap.create_folder(name)
    connection.imap.subscribe_folder(name)
    folders_invalidate(connection)


def folder_rename(connection: Connection, old: str, new: str) -> None:
    new = folder_name_check(new)
    if old.upper() == "INBOX":
        raise FolderNameInvalid(old)
    if connection.selected == old:
        connection.imap.unselect_folder() if connection.has("UNSELECT") else connection.imap.close_folder()
        connection.forget()
    connection.imap.rename_folder(old, new)
    folders_invalidate(connection)


def folder_delete(connection: Connection, name: str) -> None:
    if name.upper() == "INBOX":
        raise FolderNameInvalid(name)
    if connection.selected == name:
        connection.imap.unselect_folder() if connection.has("UNSELECT") else connection.imap.close_folder()
        connection.forget()
    connection.imap.delete_folder(name)
    folders_invalidate(connection)


def folder_subscribe(connection: Connection, name: str, subscribed: bool) -> None:
    if subscribed:
        connection.imap.subscribe_folder(name)
    else:
        connection.imap.unsubscribe_folder(name)
    folders_invalidate(connection)
