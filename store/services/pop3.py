"""POP3 UPDATE state (RFC 1939 §6): remove the messages a session deleted, mark the ones it read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from store.models import Flag, MaildropLock
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


def maildrop_lock_acquire(*, account_id: int, token: str, ttl_seconds: int) -> bool:
    """Take the account's maildrop lock unless another live session holds it (atomic on every backend).

    A lock whose holder stopped refreshing it (a crashed process) is taken over once it expired.
    """
    now = timezone.now()
    with transaction.atomic():
        MaildropLock.objects.filter(account_id=account_id, expires__lt=now).delete()
        try:
            with transaction.atomic():
                MaildropLock.objects.create(
                    account_id=account_id, token=token, expires=now + timedelta(seconds=ttl_seconds)
                )
        except IntegrityError:
            return False
    return True


def maildrop_lock_refresh(*, account_id: int, token: str, ttl_seconds: int) -> bool:
    """Extend a held lock; False when it is no longer this session's."""
    expires = timezone.now() + timedelta(seconds=ttl_seconds)
    return bool(MaildropLock.objects.filter(account_id=account_id, token=token).update(expires=expires))


def maildrop_lock_release(*, account_id: int, token: str) -> None:
    MaildropLock.objects.filter(account_id=account_id, token=token).delete()
