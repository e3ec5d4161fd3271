"""Batch delivery (the MDA's group commit): one transaction, per-item semantics of message_deliver."""

from __future__ import annotations

from store.blobs import blob_digest, blob_read
from store.models import Account, Blob, BlobData, ChangeEvent, DeliveryLog, Folder, Message
from store.services import (
    DeliveryItem,
    DeliveryLogEntry,
    DeliveryTarget,
    message_deliver,
    messages_deliver_batch,
)


def raw(n: int, filler: str = "") -> bytes:
    head = f"From: a@remote.test\r\nSubject: batch {n}\r\nMessage-ID: <{n}@remote.test>\r\n\r\n"
    return f"{head}body {n}{filler}\r\n".encode()


def inbox(account: Account, name: str = "INBOX") -> Folder:
    return Folder.objects.get(account=account, name=name)


def test_batch_gives_ascending_uids_one_modseq_per_folder_and_exact_counters(make_account):
    """Many messages to two accounts: UIDs ascend in item order, each folder gets one new MODSEQ
    above the old one, counters, quota usage, blob refcounts and the log are exact."""
    taro = make_account("taro@example.test")
    hanako = make_account("hanako@example.test")
    message_deliver(raw=raw(0), targets=[DeliveryTarget(taro.pk)])
    before = inbox(taro).highest_modseq
    events_before = ChangeEvent.objects.count()
    items = [
        DeliveryItem(
            raw=raw(n),
            targets=[DeliveryTarget(taro.pk), DeliveryTarget(hanako.pk)],
            log=DeliveryLogEntry(sender="a@remote.test", client_ip="192.0.2.1", tls=True),
        )
        for n in range(1, 6)
    ]
    results = messages_deliver_batch(items=items)
    assert [[d.uid for d in r.delivered] for r in results] == [[n + 1, n] for n in range(1, 6)]
    rows = list(Message.objects.filter(folder=inbox(taro)).order_by("uid").values_list("uid", "modseq", "subject"))
    assert [uid for uid, _, _ in rows] == [1, 2, 3, 4, 5, 6]
    assert [subject for _, _, subject in rows] == [f"batch {n}" for n in range(6)]
    assert {modseq for _, modseq, _ in rows[1:]} == {before + 1}
    folder = inbox(taro)
    assert (folder.uid_next, folder.highest_modseq, folder.message_count, folder.unseen_count) == (7, before + 1, 6, 6)
    assert folder.total_bytes == sum(len(raw(n)) for n in range(6))
    taro.refresh_from_db()
    assert taro.used_bytes == folder.total_bytes
    assert all(Blob.objects.get(pk=r.blob).refcount == 2 for r in results)
    assert all(blob_read(r.blob) == raw(n + 1) for n, r in enumerate(results))
    assert DeliveryLog.objects.filter(event="delivered", client_ip="192.0.2.1", tls=True).count() == 10
    assert ChangeEvent.objects.count() == events_before + 2
    assert set(ChangeEvent.objects.order_by("-id")[:2].values_list("kind", flat=True)) == {"add"}


def test_same_message_twice_in_a_batch_shares_one_blob(make_account):
    """Two items with the same bytes share one blob (its bytes stored once) with two references."""
    taro = make_account("taro@example.test")
    results = messages_deliver_batch(
        items=[DeliveryItem(raw=raw(1), targets=[DeliveryTarget(taro.pk)]) for _ in range(2)]
    )
    assert results[0].blob == results[1].blob
    assert Blob.objects.get(pk=results[0].blob).refcount == 2
    assert BlobData.objects.filter(pk=results[0].blob).count() == 1
    assert blob_read(results[0].blob) == raw(1)
    assert [d.uid for r in results for d in r.delivered] == [1, 2]


def test_quota_per_item_and_target_counts_earlier_items_of_the_batch(make_account):
    """Quota is checked per target against usage including earlier items of the same batch; a
    full recipient does not stop the others."""
    size = len(raw(1, "x" * 1000))
    full = make_account("full@example.test", quota=size * 2 + 10)
    roomy = make_account("roomy@example.test")
    items = [
        DeliveryItem(raw=raw(n, "x" * 1000), targets=[DeliveryTarget(full.pk), DeliveryTarget(roomy.pk)])
        for n in range(1, 4)
    ]
    results = messages_deliver_batch(items=items)
    assert [len(r.delivered) for r in results] == [2, 2, 1]
    assert [t.account_id for t in results[2].over_quota] == [full.pk]
    assert inbox(full).message_count == 2 and inbox(roomy).message_count == 3


def test_quota_grace_delivers_over_quota_copies_when_another_copy_fits(make_account):
    """With quota_grace, an accepted message is not lost for a full mailbox (still reported);
    when no copy fits, nothing is delivered."""
    full = make_account("full@example.test", quota=10)
    roomy = make_account("roomy@example.test")
    together, alone = messages_deliver_batch(
        items=[
            DeliveryItem(raw=raw(1), targets=[DeliveryTarget(full.pk), DeliveryTarget(roomy.pk)], quota_grace=True),
            DeliveryItem(raw=raw(2), targets=[DeliveryTarget(full.pk)], quota_grace=True),
        ]
    )
    assert len(together.delivered) == 2 and [t.account_id for t in together.over_quota] == [full.pk]
    assert alone.delivered == [] and [t.account_id for t in alone.over_quota] == [full.pk]
    assert inbox(full).message_count == 1


def test_fileinto_create_and_missing_folder_fall_back_to_inbox(make_account):
    """`:create` makes the folder (once, even when two items ask); a missing folder without it
    means INBOX; an invalid name means INBOX."""
    taro = make_account("taro@example.test")
    results = messages_deliver_batch(
        items=[
            DeliveryItem(raw=raw(1), targets=[DeliveryTarget(taro.pk, folder="Lists/ml", create_folder=True)]),
            DeliveryItem(raw=raw(2), targets=[DeliveryTarget(taro.pk, folder="Lists/ml", create_folder=True)]),
            DeliveryItem(raw=raw(3), targets=[DeliveryTarget(taro.pk, folder="Nowhere")]),
            DeliveryItem(raw=raw(4), targets=[DeliveryTarget(taro.pk, folder="bad*name", create_folder=True)]),
            DeliveryItem(raw=raw(5), targets=[DeliveryTarget(taro.pk, folder="inbox")]),
        ]
    )
    assert [r.delivered[0].folder for r in results] == ["Lists/ml", "Lists/ml", "INBOX", "INBOX", "INBOX"]
    assert [d.uid for r in results for d in r.delivered] == [1, 2, 1, 2, 3]
    assert inbox(taro, "Lists/ml").message_count == 2
    assert not Folder.objects.filter(account=taro, name="Nowhere").exists()


def test_unknown_account_fails_only_its_item(make_account):
    """An item naming an account that no longer exists gets an error and delivers nothing; the
    other items of the batch are delivered."""
    taro = make_account("taro@example.test")
    results = messages_deliver_batch(
        items=[
            DeliveryItem(raw=raw(1), targets=[DeliveryTarget(taro.pk)]),
            DeliveryItem(raw=raw(2), targets=[DeliveryTarget(taro.pk), DeliveryTarget(999999)]),
            DeliveryItem(raw=raw(3), targets=[DeliveryTarget(taro.pk)]),
        ]
    )
    assert [bool(r.error) for r in results] == [False, True, False]
    assert [d.uid for r in results for d in r.delivered] == [1, 2]
    assert inbox(taro).message_count == 2


def test_flags_and_keywords_per_target(make_account):
    """Per-target flags and keywords are stored; a \\Seen copy does not count as unseen."""
    taro = make_account("taro@example.test")
    messages_deliver_batch(
        items=[DeliveryItem(raw=raw(1), targets=[DeliveryTarget(taro.pk, flags=1, keywords=("$Label1",))])]
    )
    message = Message.objects.get(folder=inbox(taro))
    assert message.flags == 1 and message.keywords == ["$Label1"]
    assert inbox(taro).unseen_count == 0


def test_empty_batch_and_no_targets(make_account):
    """An empty batch does nothing; an item without targets stores nothing that names its blob
    (a file written for it, when it is one, is left to the sweep)."""
    assert messages_deliver_batch(items=[]) == []
    (result,) = messages_deliver_batch(items=[DeliveryItem(raw=raw(1), targets=[])])
    assert result.delivered == [] and result.blob == blob_digest(raw(1))
    assert not Blob.objects.filter(pk=result.blob).exists()
