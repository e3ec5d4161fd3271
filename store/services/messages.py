"""Message services: deliver, append, flags, copy, move, expunge (RFC 3501, RFC 4315, RFC 6851, RFC 7162).

Every change takes the folder row's lock, gives the change one new MODSEQ (the folder's
highest_modseq + 1), keeps the folder's counters and the account's quota usage exact, and
records a change event that is published after commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from store.changes import change_record
from store.errors import NotFound, QuotaExceeded
from store.models import Account, Blob, Expunged, Flag, Folder, Message
from store.parse import ParsedMessage, parse_message
from store.services.blobs import blob_store


@dataclass(frozen=True)
class DeliveryTarget:
    account_id: int
    folder: str = "INBOX"
    flags: int = 0
    keywords: tuple[str, ...] = ()
    create_folder: bool = False  # Sieve fileinto :create; otherwise a missing folder means INBOX


@dataclass(frozen=True)
class Delivered:
    account_id: int
    folder_id: int
    folder: str
    uid: int


@dataclass
class DeliveryResult:
    blob: str
    delivered: list[Delivered] = field(default_factory=list)
    over_quota: list[DeliveryTarget] = field(default_factory=list)


@dataclass(frozen=True)
class AppendResult:
    uid_validity: int
    uid: int


@dataclass(frozen=True)
class CopyResult:
    uid_validity: int  # of the destination folder
    uid_map: list[tuple[int, int]]  # (source uid, destination uid), ascending by source uid


@dataclass
class FlagsResult:
    modseq: int
    changed: list[Message]  # messages whose flags changed, with the new modseq
    failed_uids: list[int]  # UNCHANGEDSINCE failures (RFC 7162 §3.1.3 MODIFIED)


def _message_fields(parsed: ParsedMessage) -> dict[str, object]:
    return {
        "size": parsed.size,
        "date_sent": parsed.date_sent,
        "subject": parsed.subject[:10000],
        "subject_base": parsed.subject_base[:10000],
        "from_display": parsed.from_display[:10000],
        "to_display": parsed.to_display[:10000],
        "cc_display": parsed.cc_display[:10000],
        "bcc_display": parsed.bcc_display[:10000],
        "from_sort": parsed.from_sort[:320],
        "to_sort": parsed.to_sort[:320],
        "cc_sort": parsed.cc_sort[:320],
        "display_from": parsed.display_from[:320],
        "message_id": parsed.message_id[:998],
        "in_reply_to": parsed.in_reply_to[:10000],
        "references": parsed.references[:500],
        "has_attachments": parsed.has_attachments,
        "preview": parsed.preview[:256],
        "search_headers": parsed.search_headers,
        "search_body": parsed.search_body,
    }


def _copy_fields(message: Message) -> dict[str, object]:
    names = (
        "size date_sent subject subject_base from_display to_display cc_display bcc_display from_sort to_sort "
        "cc_sort display_from message_id in_reply_to references has_attachments preview search_headers "
        "search_body flags keywords internal_date blob_id"
    ).split()
    return {name: getattr(message, name) for name in names}


def _lock_folder(folder_id: int) -> Folder:
    # No ORDER BY (first() would add one, and the model's ordering a join): one row by key.
    found = list(Folder.objects.select_for_update().filter(pk=folder_id).order_by()[:1])
    if not found:
        raise NotFound("no such folder")
    return found[0]


def _add_messages(folder: Folder, rows: list[dict[str, object]]) -> list[Message]:
    """Insert rows into a locked folder with fresh UIDs and one new MODSEQ; update counters."""
    modseq = folder.highest_modseq + 1
    first_uid = folder.uid_next
    messages = [Message(folder_id=folder.pk, uid=first_uid + i, modseq=modseq, **row) for i, row in enumerate(rows)]
    Message.objects.bulk_create(messages)
    added_bytes = sum(int(str(row["size"])) for row in rows)
    unseen = sum(1 for row in rows if not int(str(row.get("flags", 0))) & Flag.SEEN)
    Folder.objects.filter(pk=folder.pk).update(
        uid_next=first_uid + len(rows),
        highest_modseq=modseq,
        message_count=F("message_count") + len(rows),
        unseen_count=F("unseen_count") + unseen,
        total_bytes=F("total_bytes") + added_bytes,
    )
    Account.objects.filter(pk=folder.account_id).update(used_bytes=F("used_bytes") + added_bytes)
    for blob_id in {row["blob_id"] for row in rows}:
        count = sum(1 for row in rows if row["blob_id"] == blob_id)
        Blob.objects.filter(pk=blob_id).update(refcount=F("refcount") + count)
    folder.uid_next = first_uid + len(rows)
    folder.highest_modseq = modseq
    change_record(account_id=folder.account_id, folder_id=folder.pk, kind="add", modseq=modseq)
    return messages


def _resolve_folder(account_id: int, name: str, create: bool) -> Folder:
    from store.services.folders import folder_create, folder_name_normalize

    try:
        stored = folder_name_normalize(name)
    except Exception:
        stored = "INBOX"
    folder = Folder.objects.select_for_update().filter(account_id=account_id, name=stored).first()
    if folder is None and create:
        folder_create(account=Account.objects.get(pk=account_id), name=stored)
        folder = Folder.objects.select_for_update().filter(account_id=account_id, name=stored).first()
    if folder is None:
        folder = Folder.objects.select_for_update().get(account_id=account_id, name="INBOX")
    return folder


def message_deliver(
    *,
    raw: bytes,
    targets: Sequence[DeliveryTarget],
    internal_date: datetime | None = None,
    parsed: ParsedMessage | None = None,
    enforce_quota: bool = True,
) -> DeliveryResult:
    """Deliver one message to many folders: one blob, one parse, one transaction.

    A target whose account is over quota is skipped and reported in `over_quota`; the others are
    delivered. When this returns, every delivered copy is committed (DESIGN rule 1).
    """
    parsed = parsed or parse_message(raw)
    when = internal_date or timezone.now()
    base_row = _message_fields(parsed)
    with transaction.atomic():
        digest = blob_store(raw=raw, parsed=parsed)
        result = DeliveryResult(blob=digest)
        accounts = Account.objects.select_for_update().in_bulk({t.account_id for t in targets})
        pending_bytes: dict[int, int] = {}
        by_folder: dict[int, tuple[Folder, list[tuple[DeliveryTarget, dict[str, object]]]]] = {}
        for target in targets:
            account = accounts.get(target.account_id)
            if account is None:
                raise NotFound(f"no such account id {target.account_id}")
            used = account.used_bytes + pending_bytes.get(account.pk, 0)
            if enforce_quota and account.quota and used + parsed.size > account.quota:
                result.over_quota.append(target)
                continue
            pending_bytes[account.pk] = pending_bytes.get(account.pk, 0) + parsed.size
            folder = _resolve_folder(target.account_id, target.folder, target.create_folder)
            row = dict(base_row, flags=target.flags, keywords=list(target.keywords), internal_date=when, blob_id=digest)
            by_folder.setdefault(folder.pk, (folder, []))[1].append((target, row))
        for folder, items in by_folder.values():
            added = _add_messages(folder, [row for _, row in items])
            for (target, _), message in zip(items, added, strict=True):
                result.delivered.append(Delivered(target.account_id, folder.pk, folder.name, message.uid))
    return result


def message_append(
    *,
    folder_id: int,
    raw: bytes,
    flags: int = 0,
    keywords: Iterable[str] = (),
    internal_date: datetime | None = None,
) -> AppendResult:
    """APPEND (RFC 3501 §6.3.11) with the APPENDUID result of UIDPLUS (RFC 4315)."""
    parsed = parse_message(raw)
    with transaction.atomic():
        folder = _lock_folder(folder_id)
        account = Account.objects.select_for_update().get(pk=folder.account_id)
        if account.quota and account.used_bytes + parsed.size > account.quota:
            raise QuotaExceeded("quota exceeded")
        digest = blob_store(raw=raw, parsed=parsed)
        row = dict(
            _message_fields(parsed),
            flags=flags,
            keywords=sorted(set(keywords)),
            internal_date=internal_date or timezone.now(),
            blob_id=digest,
        )
        (message,) = _add_messages(folder, [row])
    return AppendResult(uid_validity=folder.uid_validity, uid=message.uid)


def flags_set(
    *,
    folder_id: int,
    uids: Iterable[int],
    mode: str,
    flags: int = 0,
    keywords: Iterable[str] = (),
    unchanged_since: int | None = None,
) -> FlagsResult:
    """STORE (RFC 3501 §6.4.6): mode is 'set', 'add' or 'remove'.

    With unchanged_since (CONDSTORE, RFC 7162 §3.1.3), messages whose MODSEQ is greater are left
    alone and returned in failed_uids. Messages whose flags do not change keep their MODSEQ.
    """
    if mode not in ("set", "add", "remove"):
        raise ValueError(f"unknown flags mode {mode!r}")
    keyword_set = set(keywords)
    uid_list = sorted(set(uids))
    with transaction.atomic():
        folder = _lock_folder(folder_id)
        modseq = folder.highest_modseq + 1
        changed: list[Message] = []
        failed: list[int] = []
        unseen_delta = 0
        for chunk_start in range(0, len(uid_list), 5000):
            chunk = uid_list[chunk_start : chunk_start + 5000]
            for message in Message.objects.filter(folder_id=folder.pk, uid__in=chunk).only(
                "id", "uid", "flags", "keywords", "modseq"
            ):
                if unchanged_since is not None and message.modseq > unchanged_since:
                    failed.append(message.uid)
                    continue
                new_flags, new_keywords = _apply_flags(message.flags, message.keywords, mode, flags, keyword_set)
                if new_flags == message.flags and new_keywords == sorted(message.keywords):
                    continue
                if (message.flags & Flag.SEEN) != (new_flags & Flag.SEEN):
                    unseen_delta += -1 if new_flags & Flag.SEEN else 1
                message.flags, message.keywords, message.modseq = new_flags, new_keywords, modseq
                changed.append(message)
        if changed:
            # Messages that end with the same flags (the usual case) take one plain UPDATE.
            groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
            for message in changed:
                groups.setdefault((message.flags, tuple(message.keywords)), []).append(message.pk)
            if len(groups) <= 4:
                for (group_flags, group_keywords), ids in groups.items():
                    for start in range(0, len(ids), 5000):
                        Message.objects.filter(pk__in=ids[start : start + 5000]).update(
                            flags=group_flags, keywords=list(group_keywords), modseq=modseq
                        )
            else:
                Message.objects.bulk_update(changed, ["flags", "keywords", "modseq"], batch_size=2000)
            Folder.objects.filter(pk=folder.pk).update(
                highest_modseq=modseq, unseen_count=F("unseen_count") + unseen_delta
            )
            change_record(account_id=folder.account_id, folder_id=folder.pk, kind="flags", modseq=modseq)
        else:
            modseq = folder.highest_modseq
    return FlagsResult(modseq=modseq, changed=changed, failed_uids=sorted(failed))


def _apply_flags(
    current: int, current_keywords: list[str], mode: str, flags: int, keywords: set[str]
) -> tuple[int, list[str]]:
    if mode == "set":
        return flags, sorted(keywords)
    if mode == "add":
        return current | flags, sorted(set(current_keywords) | keywords)
    return current & ~flags, sorted(set(current_keywords) - keywords)


def _messages_by_uid(folder_id: int, uids: Iterable[int]) -> list[Message]:
    uid_list = sorted(set(uids))
    found: list[Message] = []
    for start in range(0, len(uid_list), 5000):
        found.extend(Message.objects.filter(folder_id=folder_id, uid__in=uid_list[start : start + 5000]))
    found.sort(key=lambda m: m.uid)
    return found


def messages_copy(*, folder_id: int, uids: Iterable[int], target_folder_id: int) -> CopyResult:
    """COPY (RFC 3501 §6.4.7) with COPYUID (RFC 4315); the blob is shared, not copied."""
    with transaction.atomic():
        # Lock both folders in id order so two crossing copies cannot deadlock.
        locked = {fid: _lock_folder(fid) for fid in sorted({folder_id, target_folder_id})}
        target = locked[target_folder_id]
        originals = _messages_by_uid(folder_id, uids)
        if not originals:
            return CopyResult(uid_validity=target.uid_validity, uid_map=[])
        account = Account.objects.select_for_update().get(pk=target.account_id)
        added_bytes = sum(m.size for m in originals)
        if folder_id != target_folder_id and account.quota and account.used_bytes + added_bytes > account.quota:
            raise QuotaExceeded("quota exceeded")
        copies = _add_messages(target, [_copy_fields(m) for m in originals])
    return CopyResult(
        uid_validity=target.uid_validity,
        uid_map=[(o.uid, c.uid) for o, c in zip(originals, copies, strict=True)],
    )


def messages_move(*, folder_id: int, uids: Iterable[int], target_folder_id: int) -> CopyResult:
    """MOVE (RFC 6851): copy then expunge the originals, in one transaction."""
    uid_list = list(uids)
    with transaction.atomic():
        result = messages_copy(folder_id=folder_id, uids=uid_list, target_folder_id=target_folder_id)
        _expunge(folder_id, [src for src, _ in result.uid_map], only_deleted=False)
    return result


def messages_expunge(*, folder_id: int, uids: Iterable[int] | None = None) -> list[int]:
    """EXPUNGE (RFC 3501 §6.4.3) or UID EXPUNGE (RFC 4315): remove \\Deleted messages.

    Returns the expunged UIDs in ascending order.
    """
    with transaction.atomic():
        return _expunge(folder_id, None if uids is None else list(uids), only_deleted=True)


def _expunge(folder_id: int, uids: list[int] | None, *, only_deleted: bool) -> list[int]:
    folder = _lock_folder(folder_id)
    query = Message.objects.filter(folder_id=folder_id)
    if only_deleted:
        query = query.filter(flags=F("flags").bitor(Flag.DELETED))
    columns = ("id", "uid", "size", "flags", "blob_id")
    if uids is None or len(uids) > 5000:
        candidates = list(query.values_list(*columns))
        if uids is not None:
            wanted = set(uids)
            candidates = [row for row in candidates if row[1] in wanted]
    else:  # a few UIDs (UID EXPUNGE, MOVE): found through the (folder, uid) index, not by a scan
        candidates = list(query.filter(uid__in=sorted(set(uids))).values_list(*columns))
    if not candidates:
        return []
    modseq = folder.highest_modseq + 1
    ids = [row[0] for row in candidates]
    for start in range(0, len(ids), 5000):
        Message.objects.filter(id__in=ids[start : start + 5000]).delete()
    Expunged.objects.bulk_create(Expunged(folder_id=folder_id, uid=row[1], modseq=modseq) for row in candidates)
    removed_bytes = sum(row[2] for row in candidates)
    unseen = sum(1 for row in candidates if not row[3] & Flag.SEEN)
    Folder.objects.filter(pk=folder_id).update(
        highest_modseq=modseq,
        message_count=F("message_count") - len(candidates),
        unseen_count=F("unseen_count") - unseen,
        total_bytes=F("total_bytes") - removed_bytes,
    )
    Account.objects.filter(pk=folder.account_id).update(used_bytes=F("used_bytes") - removed_bytes)
    blob_counts: dict[str, int] = {}
    for row in candidates:
        blob_counts[row[4]] = blob_counts.get(row[4], 0) + 1
    for digest, count in blob_counts.items():
        Blob.objects.filter(pk=digest).update(refcount=F("refcount") - count)
    change_record(account_id=folder.account_id, folder_id=folder_id, kind="expunge", modseq=modseq)
    return sorted(row[1] for row in candidates)


def inbox_rename(*, account: Account, new_name: str) -> Folder:
    """RENAME INBOX (RFC 3501 §6.3.5): move all INBOX messages to a new folder; INBOX stays, empty."""
    from store.services.folders import folder_create

    inbox = Folder.objects.select_for_update().get(account=account, name="INBOX")
    target = folder_create(account=account, name=new_name)
    uids = list(Message.objects.filter(folder=inbox).values_list("uid", flat=True))
    if uids:
        messages_move(folder_id=inbox.pk, uids=uids, target_folder_id=target.pk)
    return target
