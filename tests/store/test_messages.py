"""Message services: UIDs, MODSEQ, flags with UNCHANGEDSINCE, copy/move/expunge and quota."""

from __future__ import annotations

import pytest

from store.errors import QuotaExceeded
from store.models import Account, Blob, Expunged, Flag, Folder, Message
from store.services import (
    DeliveryTarget,
    flags_set,
    folder_create,
    message_append,
    message_deliver,
    messages_copy,
    messages_expunge,
    messages_move,
)

RAW = b"From: Taro <taro@example.test>\r\nTo: hanako@example.test\r\nSubject: hello\r\n\r\nbody\r\n"


def folder(account: Account, name: str = "INBOX") -> Folder:
    return Folder.objects.get(account=account, name=name)


def deliver(account: Account, raw: bytes = RAW, times: int = 1) -> list[int]:
    uids = []
    for _ in range(times):
        result = message_deliver(raw=raw, targets=[DeliveryTarget(account_id=account.pk)])
        uids.extend(d.uid for d in result.delivered)
    return uids


def test_new_account_has_special_use_folders(make_account):
    """Each new account gets INBOX, Sent, Drafts, Trash, Junk and Archive with their attributes."""
    account = make_account("taro@example.test")
    folders = dict(Folder.objects.filter(account=account).values_list("name", "special_use"))
    assert folders == {
        "INBOX": "inbox",
        "Sent": "\\Sent",
        "Drafts": "\\Drafts",
        "Trash": "\\Trash",
        "Junk": "\\Junk",
        "Archive": "\\Archive",
    }


def test_uids_ascend_and_modseq_grows(make_account):
    """Each delivery gets the next UID and a higher MODSEQ; UIDNEXT follows."""
    account = make_account("taro@example.test")
    before = folder(account).highest_modseq
    assert deliver(account, times=3) == [1, 2, 3]
    inbox = folder(account)
    assert inbox.uid_next == 4
    modseqs = list(Message.objects.filter(folder=inbox).order_by("uid").values_list("modseq", flat=True))
    assert modseqs == sorted(modseqs) and len(set(modseqs)) == 3 and modseqs[0] > before
    assert inbox.highest_modseq == modseqs[-1]
    assert inbox.message_count == 3 and inbox.unseen_count == 3


def test_one_blob_for_many_recipients(make_account):
    """A message to several local recipients is stored once and parsed once."""
    taro = make_account("taro@example.test")
    hanako = make_account("hanako@example.test")
    result = message_deliver(
        raw=RAW, targets=[DeliveryTarget(account_id=taro.pk), DeliveryTarget(account_id=hanako.pk)]
    )
    assert len(result.delivered) == 2
    assert Blob.objects.count() == 1
    assert Blob.objects.get().refcount == 2


def test_flags_unchangedsince(make_account):
    """STORE with UNCHANGEDSINCE leaves messages modified later alone and reports them (RFC 7162)."""
    account = make_account("taro@example.test")
    uid1, uid2 = deliver(account, times=2)
    inbox = folder(account)
    first = flags_set(folder_id=inbox.pk, uids=[uid1], mode="add", flags=Flag.FLAGGED)
    stale = first.modseq - 1
    result = flags_set(folder_id=inbox.pk, uids=[uid1, uid2], mode="add", flags=Flag.SEEN, unchanged_since=stale)
    assert result.failed_uids == [uid1]
    assert [m.uid for m in result.changed] == [uid2]
    flags = dict(Message.objects.filter(folder=inbox).values_list("uid", "flags"))
    assert flags == {uid1: Flag.FLAGGED, uid2: Flag.SEEN}
    assert folder(account).unseen_count == 1


def test_flags_unchanged_keep_modseq(make_account):
    """Setting flags a message already has does not give it a new MODSEQ."""
    account = make_account("taro@example.test")
    (uid,) = deliver(account)
    inbox = folder(account)
    flags_set(folder_id=inbox.pk, uids=[uid], mode="add", flags=Flag.SEEN)
    modseq = Message.objects.get(folder=inbox, uid=uid).modseq
    result = flags_set(folder_id=inbox.pk, uids=[uid], mode="add", flags=Flag.SEEN)
    assert result.changed == []
    assert Message.objects.get(folder=inbox, uid=uid).modseq == modseq


def test_flags_add_to_messages_with_different_flags(make_account):
    """+FLAGS on messages that start from different flags gives each its own result, one new
    MODSEQ for the changed ones, none for those that already had the flag; counters stay exact."""
    account = make_account("taro@example.test")
    uids = deliver(account, times=7)
    inbox = folder(account)
    flags_set(folder_id=inbox.pk, uids=uids[:2], mode="add", flags=Flag.FLAGGED)
    flags_set(folder_id=inbox.pk, uids=[uids[2]], mode="add", flags=Flag.ANSWERED, keywords=["work"])
    flags_set(folder_id=inbox.pk, uids=[uids[3]], mode="add", flags=Flag.SEEN | Flag.DRAFT)
    flags_set(folder_id=inbox.pk, uids=[uids[4]], mode="add", flags=Flag.DELETED)
    flags_set(folder_id=inbox.pk, uids=[uids[5]], mode="add", flags=Flag.ANSWERED | Flag.FLAGGED)
    before = dict(Message.objects.filter(folder=inbox).values_list("uid", "modseq"))
    result = flags_set(folder_id=inbox.pk, uids=uids, mode="add", flags=Flag.SEEN)
    assert sorted(m.uid for m in result.changed) == [uids[0], uids[1], uids[2], uids[4], uids[5], uids[6]]
    rows = {
        uid: (flags, keywords, modseq)
        for uid, flags, keywords, modseq in Message.objects.filter(folder=inbox).values_list(
            "uid", "flags", "keywords", "modseq"
        )
    }
    assert rows[uids[0]] == (Flag.FLAGGED | Flag.SEEN, [], result.modseq)
    assert rows[uids[2]] == (Flag.ANSWERED | Flag.SEEN, ["work"], result.modseq)
    assert rows[uids[3]] == (Flag.SEEN | Flag.DRAFT, [], before[uids[3]])
    assert rows[uids[4]] == (Flag.DELETED | Flag.SEEN, [], result.modseq)
    assert rows[uids[5]] == (Flag.ANSWERED | Flag.FLAGGED | Flag.SEEN, [], result.modseq)
    assert rows[uids[6]] == (Flag.SEEN, [], result.modseq)
    inbox = folder(account)
    assert inbox.unseen_count == 0 and inbox.highest_modseq == result.modseq


def test_keywords_add_and_remove(make_account):
    account = make_account("taro@example.test")
    (uid,) = deliver(account)
    inbox = folder(account)
    flags_set(folder_id=inbox.pk, uids=[uid], mode="add", keywords=["$Junk", "work"])
    flags_set(folder_id=inbox.pk, uids=[uid], mode="remove", keywords=["$Junk"])
    assert Message.objects.get(folder=inbox, uid=uid).keywords == ["work"]


def test_expunge_removes_only_deleted_and_records_vanished(make_account):
    """EXPUNGE removes \\Deleted messages, keeps the others, and remembers UIDs for QRESYNC."""
    account = make_account("taro@example.test")
    uids = deliver(account, times=3)
    inbox = folder(account)
    flags_set(folder_id=inbox.pk, uids=[uids[0], uids[2]], mode="add", flags=Flag.DELETED)
    assert messages_expunge(folder_id=inbox.pk) == [uids[0], uids[2]]
    assert list(Message.objects.filter(folder=inbox).values_list("uid", flat=True)) == [uids[1]]
    assert sorted(Expunged.objects.filter(folder=inbox).values_list("uid", flat=True)) == [uids[0], uids[2]]
    inbox = folder(account)
    assert inbox.message_count == 1


def test_uid_expunge_limits_to_given_uids(make_account):
    """UID EXPUNGE (RFC 4315) removes only the named \\Deleted messages."""
    account = make_account("taro@example.test")
    uids = deliver(account, times=2)
    inbox = folder(account)
    flags_set(folder_id=inbox.pk, uids=uids, mode="add", flags=Flag.DELETED)
    assert messages_expunge(folder_id=inbox.pk, uids=[uids[1]]) == [uids[1]]
    assert list(Message.objects.filter(folder=inbox).values_list("uid", flat=True)) == [uids[0]]


def test_copy_keeps_flags_and_maps_uids(make_account):
    """COPY gives new UIDs in the destination, keeps flags, and shares the blob."""
    account = make_account("taro@example.test")
    uids = deliver(account, times=2)
    inbox, archive = folder(account), folder(account, "Archive")
    flags_set(folder_id=inbox.pk, uids=[uids[0]], mode="add", flags=Flag.FLAGGED)
    result = messages_copy(folder_id=inbox.pk, uids=uids, target_folder_id=archive.pk)
    assert result.uid_map == [(uids[0], 1), (uids[1], 2)]
    assert result.uid_validity == archive.uid_validity
    copied = dict(Message.objects.filter(folder=archive).values_list("uid", "flags"))
    assert copied == {1: Flag.FLAGGED, 2: 0}
    assert Message.objects.filter(folder=inbox).count() == 2
    assert Blob.objects.get().refcount == 4


def test_move_removes_source(make_account):
    """MOVE (RFC 6851) copies and expunges the originals in one step."""
    account = make_account("taro@example.test")
    uids = deliver(account, times=2)
    inbox, trash = folder(account), folder(account, "Trash")
    result = messages_move(folder_id=inbox.pk, uids=[uids[0]], target_folder_id=trash.pk)
    assert result.uid_map == [(uids[0], 1)]
    assert list(Message.objects.filter(folder=inbox).values_list("uid", flat=True)) == [uids[1]]
    assert Message.objects.filter(folder=trash).count() == 1
    account.refresh_from_db()
    assert account.used_bytes == 2 * len(RAW)


def test_quota_skips_only_the_full_recipient(make_account):
    """Over quota, one recipient is skipped and reported; the others still get their copy."""
    full = make_account("full@example.test", quota=len(RAW) + 10)
    roomy = make_account("roomy@example.test")
    deliver(full)
    result = message_deliver(raw=RAW, targets=[DeliveryTarget(account_id=full.pk), DeliveryTarget(account_id=roomy.pk)])
    assert [t.account_id for t in result.over_quota] == [full.pk]
    assert [d.account_id for d in result.delivered] == [roomy.pk]
    full.refresh_from_db()
    assert full.used_bytes == len(RAW)


def test_append_over_quota_refused(make_account):
    account = make_account("taro@example.test", quota=len(RAW) * 2 - 1)
    message_append(folder_id=folder(account).pk, raw=RAW)
    with pytest.raises(QuotaExceeded):
        message_append(folder_id=folder(account).pk, raw=RAW)
    account.refresh_from_db()
    assert account.used_bytes == len(RAW)


def test_expunge_frees_quota(make_account):
    account = make_account("taro@example.test")
    uids = deliver(account, times=2)
    inbox = folder(account)
    flags_set(folder_id=inbox.pk, uids=uids, mode="add", flags=Flag.DELETED)
    messages_expunge(folder_id=inbox.pk)
    account.refresh_from_db()
    assert account.used_bytes == 0
    assert Blob.objects.get().refcount == 0


def test_fileinto_create_and_missing_folder(make_account):
    """A target folder is created when asked (:create); a missing folder otherwise means INBOX."""
    account = make_account("taro@example.test")
    result = message_deliver(
        raw=RAW,
        targets=[
            DeliveryTarget(account_id=account.pk, folder="Lists/雑談", create_folder=True),
            DeliveryTarget(account_id=account.pk, folder="Nowhere"),
        ],
    )
    assert sorted(d.folder for d in result.delivered) == ["INBOX", "Lists/雑談"]
    folder_create(account=account, name="日本語/フォルダ")
    assert folder(account, "日本語/フォルダ").uid_next == 1
