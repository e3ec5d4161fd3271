"""Blob store: content addressing, durability order, and the GC sweep."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.conf import settings

from store.blobs import (
    TEMP_DIR_NAME,
    blob_delete,
    blob_digest,
    blob_path,
    blob_read,
    blob_read_range,
    blob_write,
    blobs_cached,
)
from store.models import Blob, BlobData, Flag, Folder
from store.services import DeliveryTarget, flags_set, message_deliver, messages_expunge
from store.services.blobs import blob_gc_sweep
from tests.conftest import in_forked_child

RAW = b"Subject: gc\r\n\r\nbody\r\n"


def age(path: Path, seconds: int) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


@pytest.fixture
def files_only(settings):
    """Every blob a file, whatever its size (the blob directory's own behaviour)."""
    settings.YUBIN_BLOB_INLINE_MAX = 0


def test_write_is_content_addressed_and_idempotent(files_only):
    digest = blob_write(b"hello")
    assert digest == blob_digest(b"hello")
    assert blob_write(b"hello") == digest
    assert blob_read(digest) == b"hello"
    assert blob_read_range(digest, 1, 4) == b"ell"
    leftovers = (Path(settings.YUBIN_BLOB_DIR) / TEMP_DIR_NAME).glob(f"{digest}.*")
    assert not list(leftovers), "the temporary file was renamed into place, not left behind"


def test_torn_file_under_the_blob_name_is_rewritten(files_only):
    """A file left under a blob's name with the right size but other bytes (a crash between the
    rename and the fsync) is replaced, by blob_write and by blobs_write alike."""
    from store.blobs import blobs_write

    for write in (blob_write, lambda data: blobs_write([data])[0]):
        data = os.urandom(64).hex().encode()
        path = blob_path(blob_digest(data))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * len(data))
        assert write(data) == blob_digest(data)
        assert blob_read(blob_digest(data)) == data


@pytest.mark.parametrize("inline_max", [0, 1024])
def test_gc_keeps_referenced_and_removes_unreferenced(make_account, settings, inline_max):
    """The sweep removes a blob only when no message refers to it and its grace period passed,
    a file and a blob kept in the database alike."""
    settings.YUBIN_BLOB_INLINE_MAX = inline_max
    account = make_account("taro@example.test")
    keep = b"Subject: keep %d\r\n\r\nx\r\n" % inline_max  # not the other case's blob (its file may be left)
    kept = message_deliver(raw=keep, targets=[DeliveryTarget(account_id=account.pk)]).blob
    gone = message_deliver(raw=RAW + b"%d" % inline_max, targets=[DeliveryTarget(account_id=account.pk)]).blob
    inbox = Folder.objects.get(account=account, name="INBOX")
    flags_set(folder_id=inbox.pk, uids=[2], mode="add", flags=Flag.DELETED)
    messages_expunge(folder_id=inbox.pk)
    assert blob_gc_sweep(grace_seconds=3600) == 0  # too young: a transaction may still be running
    Blob.objects.update(created="2000-01-01T00:00:00Z")
    assert blob_gc_sweep(grace_seconds=3600) == 1
    assert blob_read(kept) == keep
    assert not blob_path(gone).exists() and not BlobData.objects.filter(pk=gone).exists()
    with pytest.raises(FileNotFoundError):
        blob_read(gone)
    assert list(Blob.objects.values_list("sha256", flat=True)) == [kept]
    assert blob_path(kept).exists() is (inline_max == 0)


def test_small_message_kept_in_the_database_large_one_in_a_file(make_account, settings):
    """Up to YUBIN_BLOB_INLINE_MAX the bytes go into the database with the delivery; above it, a
    file. Both read the same, whole and in ranges."""
    settings.YUBIN_BLOB_INLINE_MAX = 1000
    account = make_account("taro@example.test")
    small = b"Subject: small\r\n\r\n" + b"s" * 900 + b"\r\n"
    large = b"Subject: large\r\n\r\n" + b"l" * 2000 + b"\r\n"
    small_digest = message_deliver(raw=small, targets=[DeliveryTarget(account_id=account.pk)]).blob
    large_digest = message_deliver(raw=large, targets=[DeliveryTarget(account_id=account.pk)]).blob
    assert not blob_path(small_digest).exists()
    assert bytes(BlobData.objects.get(pk=small_digest).data) == small
    assert blob_path(large_digest).read_bytes() == large and not BlobData.objects.filter(pk=large_digest).exists()
    for digest, raw in ((small_digest, small), (large_digest, large)):
        assert blob_read(digest) == raw
        assert blob_read_range(digest, 9, 14) == raw[9:14]
        assert blob_read_range(digest, len(raw) - 3, len(raw) + 50) == raw[-3:]


def test_blobs_stay_readable_when_the_limit_changes(make_account, settings):
    """A blob written under one limit is read where it was put after the limit moved either way;
    the same bytes delivered again under the other limit are still one blob."""
    account = make_account("taro@example.test")
    raw = b"Subject: moved\r\n\r\n" + b"m" * 500 + b"\r\n"
    settings.YUBIN_BLOB_INLINE_MAX = 0
    as_file = message_deliver(raw=raw, targets=[DeliveryTarget(account_id=account.pk)]).blob
    settings.YUBIN_BLOB_INLINE_MAX = 4096
    assert blob_read(as_file) == raw
    # With the size, a small blob is looked for in the database first, and still found as a file.
    assert blob_read_range(as_file, 9, 14, len(raw)) == raw[9:14] == b"moved"
    again = message_deliver(raw=raw, targets=[DeliveryTarget(account_id=account.pk)]).blob
    assert again == as_file and Blob.objects.get(pk=as_file).refcount == 2 and blob_read(again) == raw
    other = raw.replace(b"moved", b"Moved")
    in_db = message_deliver(raw=other, targets=[DeliveryTarget(account_id=account.pk)]).blob
    assert blob_read_range(in_db, 9, 14, len(other)) == b"Moved"
    settings.YUBIN_BLOB_INLINE_MAX = 0
    assert not blob_path(in_db).exists() and blob_read(in_db) == other
    assert blob_read_range(in_db, 9, 14, len(other)) == b"Moved"
    with pytest.raises(FileNotFoundError):
        blob_read_range(blob_digest(b"nowhere"), 0, 5, 7)
    settings.YUBIN_BLOB_INLINE_MAX = 4096
    with pytest.raises(FileNotFoundError):
        blob_read_range(blob_digest(b"nowhere"), 0, 5, 7)


def test_blob_kept_in_the_database_read_by_another_connection(transactional_db, make_account):
    """Committed, it is read through the readers' own connection (on SQLite) or this thread's."""
    account = make_account("taro@example.test")
    raw = b"Subject: committed\r\n\r\nbody\r\n"
    digest = message_deliver(raw=raw, targets=[DeliveryTarget(account_id=account.pk)]).blob
    assert not blob_path(digest).exists()
    assert blob_read(digest) == raw and blob_read_range(digest, 0, 7) == b"Subject"


def test_gc_removes_orphan_and_temporary_files(transactional_db, files_only):
    """Files left by a crash between fsync and commit (no row) go once they are old enough."""
    orphan = blob_path(blob_write(b"orphan after crash"))
    temp_dir = Path(settings.YUBIN_BLOB_DIR) / TEMP_DIR_NAME
    temp_dir.mkdir(parents=True, exist_ok=True)
    partial = temp_dir / "deadbeef.123.abcd"
    partial.write_bytes(b"half")
    assert blob_gc_sweep(grace_seconds=3600) == 0
    age(orphan, 7200)
    age(partial, 7200)
    assert blob_gc_sweep(grace_seconds=3600) == 2
    assert not orphan.exists() and not partial.exists()


def test_finished_queue_rows_are_pruned_and_release_their_blob(make_account):
    """A queue message whose recipients all finished is dropped after the keep period; an unfinished
    one stays; the blob then has no reference left and the GC sweep may take it."""
    from django.utils import timezone

    from store.models import OutboundMessage, OutboundRecipient, QueueState
    from store.services.queue import QueueRecipient, queue_enqueue, queue_prune

    done = queue_enqueue(
        raw=b"Subject: done\r\n\r\nx\r\n", sender="a@example.test", recipients=[QueueRecipient("x@remote.test")]
    )
    pending = queue_enqueue(
        raw=b"Subject: pending\r\n\r\nx\r\n", sender="a@example.test", recipients=[QueueRecipient("y@remote.test")]
    )
    OutboundRecipient.objects.filter(message=done).update(state=QueueState.SENT)
    old = timezone.now() - timezone.timedelta(days=30)
    OutboundMessage.objects.update(created=old)
    assert queue_prune(older_than_days=7) == 1
    assert list(OutboundMessage.objects.values_list("pk", flat=True)) == [pending.pk]
    assert Blob.objects.get(pk=done.blob_id).refcount == 0
    assert Blob.objects.get(pk=pending.blob_id).refcount == 1


def test_a_forked_child_reads_through_a_connection_of_its_own(transactional_db, make_account, settings):
    """SQLite connections must not cross a fork (a Celery prefork worker's children): a child
    that reads a blob kept in the database opens its own and reads the same bytes."""
    from django.db import connection

    from store import blobs

    if connection.vendor != "sqlite":
        pytest.skip("the reader connection is SQLite's")
    settings.YUBIN_BLOB_CACHE = 0  # every read goes to the database
    account = make_account("taro@example.test")
    raw = b"Subject: fork\r\n\r\nbody\r\n"
    digest = message_deliver(raw=raw, targets=[DeliveryTarget(account_id=account.pk)]).blob
    assert blob_read(digest) == raw
    parent = blobs._READERS.connection
    assert in_forked_child(lambda: blob_read(digest) == raw and blobs._READERS.connection is not parent)
    assert blobs._READERS.connection is parent and blob_read(digest) == raw


def _row_gone(digest: str) -> None:
    """The database no longer holds the blob's bytes (as after another process's GC sweep)."""
    BlobData.objects.filter(pk=digest).delete()


def test_a_blob_read_from_the_database_is_read_again_from_memory(transactional_db, make_account):
    """A blob kept in the database is read once; later reads, whole or in ranges, come from the
    process's cache, as the bytes of a digest never change."""
    account = make_account("taro@example.test")
    raw = b"Subject: cached\r\n\r\n" + b"c" * 3000 + b"\r\n"
    digest = message_deliver(raw=raw, targets=[DeliveryTarget(account_id=account.pk)]).blob
    assert blob_read_range(digest, 9, 15, len(raw)) == b"cached"
    _row_gone(digest)
    assert blob_read(digest) == raw
    assert blob_read_range(digest, 0, 7, len(raw)) == b"Subject"
    assert blob_read_range(digest, len(raw) - 3, len(raw) + 10, len(raw)) == b"c\r\n"
    assert blobs_cached([digest]) and not blobs_cached([digest, blob_digest(b"never read")])


def test_the_blob_cache_keeps_the_latest_within_its_size(transactional_db, make_account, settings):
    """Least recently read out first, within YUBIN_BLOB_CACHE bytes; a blob larger than a quarter
    of it is never kept; 0 keeps none; a deleted blob leaves the cache."""
    settings.YUBIN_BLOB_CACHE = 10_000
    account = make_account("taro@example.test")
    raws = [b"Subject: %d\r\n\r\n" % n + b"x" * 2000 + b"\r\n" for n in range(6)]
    digests = [message_deliver(raw=raw, targets=[DeliveryTarget(account_id=account.pk)]).blob for raw in raws]
    for digest in digests[:4]:
        blob_read(digest)
    blob_read(digests[0])  # read again: now the latest
    blob_read(digests[4])  # 5 x 2 KB > 10,000 bytes: the least recent (digests[1]) goes
    assert blobs_cached([digests[0], *digests[2:5]]) and not blobs_cached([digests[1]])
    big = b"Subject: big\r\n\r\n" + b"b" * 3000 + b"\r\n"
    big_digest = message_deliver(raw=big, targets=[DeliveryTarget(account_id=account.pk)]).blob
    assert blob_read(big_digest) == big and not blobs_cached([big_digest])
    blob_delete(digests[0])
    assert not blobs_cached([digests[0]])
    settings.YUBIN_BLOB_CACHE = 0
    assert blob_read(digests[5]) == raws[5] and not blobs_cached([digests[5]])
    _row_gone(digests[5])
    with pytest.raises(FileNotFoundError):
        blob_read(digests[5])


def test_a_header_of_a_large_message_is_read_alone_and_a_small_message_whole(transactional_db, make_account):
    """A range of a small blob reads all of it, which the cache keeps; a short range of a large
    one (a client's sync of headers) reads only that range and leaves the cache alone."""
    account = make_account("taro@example.test")
    small = b"Subject: small\r\n\r\n" + b"s" * 2000 + b"\r\n"
    large = b"Subject: large\r\n\r\n" + b"l" * 60000 + b"\r\n"
    small_digest = message_deliver(raw=small, targets=[DeliveryTarget(account_id=account.pk)]).blob
    large_digest = message_deliver(raw=large, targets=[DeliveryTarget(account_id=account.pk)]).blob
    assert blob_read_range(small_digest, 0, 14, len(small)) == b"Subject: small"
    assert blob_read_range(large_digest, 0, 14, len(large)) == b"Subject: large"
    assert blobs_cached([small_digest]) and not blobs_cached([large_digest])
    assert blob_read_range(large_digest, 0, len(large), len(large)) == large  # all of it: kept
    assert blobs_cached([large_digest])
