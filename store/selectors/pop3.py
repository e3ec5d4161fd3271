"""POP3 maildrop selector (RFC 1939 §8): the INBOX as one session sees it at login."""

from __future__ import annotations

from dataclasses import dataclass

from store.models import Folder, Message


@dataclass(frozen=True)
class MaildropEntry:
    uid: int
    blob_id: str
    size: int  # stored size; POP3 announces the CRLF-normalised size
    wire_size: int | None  # the blob's POP3 wire facts (store.blobs.WireFacts); None: not yet known
    wire_crlf: bool | None
    wire_dots: bool | None


@dataclass(frozen=True)
class MaildropSnapshot:
    folder_id: int
    uid_validity: int
    entries: list[MaildropEntry]


def maildrop_snapshot(*, account_id: int) -> MaildropSnapshot | None:
    """The account's INBOX messages in UID order (None when the account has no INBOX)."""
    folder = Folder.objects.filter(account_id=account_id, name="INBOX").only("id", "uid_validity").first()
    if folder is None:
        return None
    rows = (
        Message.objects.filter(folder_id=folder.pk)
        .order_by("uid")
        .values_list("uid", "blob_id", "size", "blob__wire_size", "blob__wire_crlf", "blob__wire_dots")
    )
    return MaildropSnapshot(
        folder_id=folder.pk,
        uid_validity=folder.uid_validity,
        entries=[MaildropEntry(*row) for row in rows],
    )
