"""queue_enqueue_batch: many messages queued with a fixed number of statements, dispatched after commit."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from store.blobs import blob_digest, blob_read
from store.models import Blob, DeliveryLog, OutboundMessage, OutboundRecipient, QueueState
from store.services.queue import QueueItem, QueueRecipient, queue_dispatch_hook_register, queue_enqueue_batch

pytestmark = pytest.mark.django_db

dispatched: list[int] = []
queue_dispatch_hook_register(dispatched.extend)


def _raw(number: int) -> bytes:
    return f"From: a@example.test\r\nSubject: {number}\r\nMessage-ID: <b{number}@example.test>\r\n\r\nbody\r\n".encode()


def _items(count: int) -> list[QueueItem]:
    return [
        QueueItem(raw=_raw(n), sender="a@example.test", recipients=[QueueRecipient(f"r{n}@d{n % 3}.test"),
                  QueueRecipient(f"s{n}@x.test", notify="FAILURE", orcpt="rfc822;s@x.test")], client_ip="192.0.2.1")
        for n in range(count)
    ]  # fmt: skip


def test_batch_queues_every_message_and_recipient(django_capture_on_commit_callbacks):
    """Each item becomes one message with its recipients (domain, DSN fields), one 'queued' log row per
    recipient, its blob file and row; each message is dispatched once, only after the commit."""
    dispatched.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        outbounds = queue_enqueue_batch(items=_items(4))
        assert dispatched == []
    assert len(callbacks) == 1
    assert dispatched == [o.pk for o in outbounds]
    assert [o.message_id for o in outbounds] == [f"<b{n}@example.test>" for n in range(4)]
    for n, outbound in enumerate(outbounds):
        rows = OutboundRecipient.objects.filter(message=outbound).order_by("address")
        assert [(r.address, r.domain, r.state) for r in rows] == [
            (f"r{n}@d{n % 3}.test", f"d{n % 3}.test", QueueState.QUEUED),
            (f"s{n}@x.test", "x.test", QueueState.QUEUED),
        ]
        assert (rows[1].dsn_notify, rows[1].dsn_orcpt) == ("FAILURE", "rfc822;s@x.test")
        assert blob_read(outbound.blob_id) == _raw(n)
        assert Blob.objects.get(pk=outbound.blob_id).refcount == 1
        assert DeliveryLog.objects.filter(queue_id=outbound.pk, event="queued").count() == 2


def test_batch_statement_count_does_not_grow_with_messages():
    """Ten messages cost the same number of statements as two."""
    with CaptureQueriesContext(connection) as two:
        queue_enqueue_batch(items=_items(2))
    with CaptureQueriesContext(connection) as ten:
        queue_enqueue_batch(items=[QueueItem(raw=i.raw + b"x\r\n", sender=i.sender, recipients=i.recipients)
                                   for i in _items(10)])  # fmt: skip
    assert len(ten.captured_queries) == len(two.captured_queries)


def test_same_bytes_twice_share_one_blob_with_two_references():
    """Two messages with the same bytes: one blob row and file, reference count 2."""
    raw = _raw(7)
    item = QueueItem(raw=raw, sender="a@example.test", recipients=[QueueRecipient("b@remote.test")])
    first, second = queue_enqueue_batch(items=[item, item])
    assert first.pk != second.pk and first.blob_id == second.blob_id == blob_digest(raw)
    assert Blob.objects.get(pk=blob_digest(raw)).refcount == 2
    assert OutboundMessage.objects.filter(blob_id=blob_digest(raw)).count() == 2


def test_ids_match_their_messages_across_statement_chunks():
    """More messages than one INSERT ... RETURNING takes: each returned message's id is its own row."""
    from store.services.messages import RETURNING_CHUNK

    count = RETURNING_CHUNK + 7
    outbounds = queue_enqueue_batch(items=_items(count))
    assert len({o.pk for o in outbounds}) == count
    stored = dict(OutboundMessage.objects.filter(pk__in=[o.pk for o in outbounds]).values_list("pk", "message_id"))
    assert [stored[o.pk] for o in outbounds] == [f"<b{n}@example.test>" for n in range(count)]
    assert all(o.created is not None for o in OutboundMessage.objects.filter(pk__in=[o.pk for o in outbounds]))
