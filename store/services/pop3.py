"""POP3 UPDATE state (RFC 1939 §6): remove the messages a session deleted, mark the ones it read."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from store.models import Flag
from store.services.messages import flags_set, messages_expunge


def maildrop_update(*, folder_id: int, deleted_uids: Iterable[int], seen_uids: Iterable[int] = ()) -> list[int]:
    """Set \\Deleted on exactly these UIDs and expunge only them, in one transaction.

    Messages retrieved and kept get \\Seen, as Dovecot's pop3 does, so an IMAP client shows them
    read. Returns the UIDs expunged (a message another client expunged first is simply absent).
    """
    deleted = sorted(set(deleted_uids))
    seen = sorted(set(seen_uids) - set(deleted))
    with transaction.atomic():
        if seen:
            flags_set(folder_id=folder_id, uids=seen, mode="add", flags=Flag.SEEN)
        if not deleted:
            return []
        flags_set(folder_id=folder_id, uids=deleted, mode="add", flags=Flag.DELETED)
        return messages_expunge(folder_id=folder_id, uids=deleted)
