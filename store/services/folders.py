"""Folder services: create, rename, delete, subscribe (RFC 3501 §6.3.3-6.3.7, RFC 6154).

Folder names are Unicode strings with "/" as the hierarchy separator; "INBOX" is the one
case-insensitive name and is always stored as "INBOX". Modified UTF-7 is the IMAP server's
business, not the store's.
"""

from __future__ import annotations

import time

from django.db import IntegrityError, transaction
from django.db.models import Max, Q

from store.changes import change_record
from store.errors import AlreadyExists, InvalidName, NotFound
from store.models import Account, Folder, SpecialUse, Subscription
from store.sql import driver_cursor

SEPARATOR = "/"
MAX_FOLDER_NAME_LENGTH = 1000
MAX_FOLDER_DEPTH = 32  # levels; keeps pathological names out of every LIST

DEFAULT_FOLDERS: tuple[tuple[str, str], ...] = (
    ("INBOX", SpecialUse.INBOX),
    ("Sent", SpecialUse.SENT),
    ("Drafts", SpecialUse.DRAFTS),
    ("Trash", SpecialUse.TRASH),
    ("Junk", SpecialUse.JUNK),
    ("Archive", SpecialUse.ARCHIVE),
)


def folder_name_normalize(name: str) -> str:
    """Check a folder name and return its stored form; raise InvalidName with the reason."""
    if not name or not name.strip():
        raise InvalidName("folder name is empty")
    if len(name) > MAX_FOLDER_NAME_LENGTH:
        raise InvalidName("folder name is too long")
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in name):
        raise InvalidName("folder name contains control characters")
    if name.startswith(SEPARATOR) or name.endswith(SEPARATOR) or SEPARATOR * 2 in name:
        raise InvalidName("folder name has an empty level")
    if name.count(SEPARATOR) >= MAX_FOLDER_DEPTH:
        raise InvalidName("folder hierarchy is too deep")
    if any(ch in name for ch in "*%"):
        raise InvalidName("folder names cannot contain * or %")
    head, sep, tail = name.partition(SEPARATOR)
    if head.upper() == "INBOX":
        return "INBOX" + sep + tail
    return name


def _next_uid_validity(account: Account) -> int:
    latest = Folder.objects.filter(account=account).aggregate(m=Max("uid_validity"))["m"] or 0
    return max(int(time.time()), latest + 1) & 0xFFFFFFFF or 1


def folder_create(*, account: Account, name: str, special_use: str = "", subscribed: bool = True) -> Folder:
    """Create a folder; parents are implied by the name, as in Dovecot's default layout."""
    stored = folder_name_normalize(name)
    try:
        with transaction.atomic():
            folder = Folder.objects.create(
                account=account,
                name=stored,
                uid_validity=_next_uid_validity(account),
                special_use=special_use,
            )
            if subscribed:
                Subscription.objects.get_or_create(account=account, name=stored)
            change_record(account_id=account.pk, folder_id=folder.pk, kind="folder")
    except IntegrityError:
        raise AlreadyExists(f"folder already exists: {stored}") from None
    return folder


def folder_create_defaults(*, account: Account) -> None:
    base = int(time.time())
    Folder.objects.bulk_create(
        Folder(account=account, name=name, uid_validity=base, special_use=use) for name, use in DEFAULT_FOLDERS
    )
    Subscription.objects.bulk_create(
        (Subscription(account=account, name=name) for name, _use in DEFAULT_FOLDERS), ignore_conflicts=True
    )


def folder_rename(*, account: Account, old_name: str, new_name: str) -> Folder:
    """Rename a folder and its children; renaming INBOX moves its messages (RFC 3501 §6.3.5)."""
    from store.services.messages import inbox_rename

    old = folder_name_normalize(old_name)
    new = folder_name_normalize(new_name)
    with transaction.atomic():
        folder = Folder.objects.select_for_update().filter(account=account, name=old).first()
        if folder is None:
            raise NotFound(f"no such folder: {old}")
        if Folder.objects.filter(account=account, name=new).exists():
            raise AlreadyExists(f"folder already exists: {new}")
        if new.startswith(old + SEPARATOR):
            raise InvalidName("cannot move a folder into itself")
        if old == "INBOX":
            return inbox_rename(account=account, new_name=new)
        children = Folder.objects.select_for_update().filter(account=account, name__startswith=old + SEPARATOR)
        for child in children:
            child.name = new + child.name[len(old) :]
            child.uid_validity = _next_uid_validity(account)
            child.save(update_fields=["name", "uid_validity"])
        folder.name = new
        folder.uid_validity = _next_uid_validity(account)
        folder.save(update_fields=["name", "uid_validity"])
        _subscriptions_rename(account, old, new)
        change_record(account_id=account.pk, folder_id=folder.pk, kind="folder")
    return folder


def folder_delete(*, account: Account, name: str) -> None:
    """Delete a folder and its messages; INBOX cannot be deleted (RFC 3501 §6.3.4).

    Children stay (they become folders whose parent does not exist, like Dovecot's \\NonExistent).
    """
    from store.services.blobs import blob_release_for_folders

    stored = folder_name_normalize(name)
    if stored == "INBOX":
        raise InvalidName("INBOX cannot be deleted")
    with transaction.atomic():
        folder = Folder.objects.select_for_update().filter(account=account, name=stored).first()
        if folder is None:
            raise NotFound(f"no such folder: {stored}")
        blob_release_for_folders(folder_ids=[folder.pk])
        Account.objects.filter(pk=account.pk).update(used_bytes=_used_after_removing(account, folder))
        folder_id = folder.pk
        folder.delete()
        change_record(account_id=account.pk, folder_id=folder_id, kind="folder")


def _used_after_removing(account: Account, folder: Folder) -> int:
    account.refresh_from_db(fields=["used_bytes"])
    return max(0, account.used_bytes - folder.total_bytes)


def _subscriptions_rename(account: Account, old: str, new: str) -> None:
    """A renamed folder's subscriptions follow it, its children's too (as Dovecot does)."""
    moved = Subscription.objects.filter(account=account).filter(Q(name=old) | Q(name__startswith=old + SEPARATOR))
    names = list(moved.values_list("name", flat=True))
    if not names:
        return
    moved.delete()
    Subscription.objects.bulk_create(
        (Subscription(account=account, name=new + name[len(old) :]) for name in names), ignore_conflicts=True
    )


def folder_subscribe(*, account: Account, name: str, subscribed: bool) -> None:
    """SUBSCRIBE (an existing folder only, as Dovecot) or UNSUBSCRIBE, whether or not the
    folder still exists (RFC 3501 §6.3.6-6.3.7)."""
    stored = folder_name_normalize(name)
    if not subscribed:
        Subscription.objects.filter(account=account, name=stored).delete()
        return
    if not Folder.objects.filter(account=account, name=stored).exists():
        raise NotFound(f"no such folder: {stored}")
    Subscription.objects.get_or_create(account=account, name=stored)


def folder_recent_claim(*, folder_id: int, upto_uid: int) -> tuple[int, int] | None:
    """Claim the \\Recent messages of a folder up to upto_uid for one read-write session.

    RFC 3501 §2.3.2: a message is \\Recent in the first session told about it. Returns the UID
    range (low, high) now this session's, or None when another session claimed them first. No
    MODSEQ moves: \\Recent is session state, not a change to the messages.
    """
    table = Folder._meta.db_table
    with driver_cursor() as cursor:  # plain statements: the IMAP writer runs one per new mail
        while True:
            cursor.execute(f"SELECT recent_uid FROM {table} WHERE id = %s", [folder_id])  # noqa: S608
            row = cursor.fetchone()
            if row is None or row[0] > upto_uid:
                return None
            cursor.execute(
                f"UPDATE {table} SET recent_uid = %s WHERE id = %s AND recent_uid = %s",  # noqa: S608
                [upto_uid + 1, folder_id, row[0]],
            )
            if cursor.rowcount:
                return int(row[0]), upto_uid
