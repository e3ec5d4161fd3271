"""Queue actions (retry, hold, release, delete, bounce) and the relay's claim on due rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from store.errors import NotFound
from store.models import Blob, DeliveryLog, OutboundMessage, OutboundRecipient, QueueState
from store.selectors.queue import queue_due_message_ids, queue_messages
from store.services.queue import (
    AttemptOutcome,
    QueueRecipient,
    queue_bounce,
    queue_claim,
    queue_delete,
    queue_dispatch_hook_register,
    queue_enqueue,
    queue_hold,
    queue_notice_hook_register,
    queue_outcomes_record,
    queue_release,
    queue_retry,
)

RAW = b"From: a@example.test\r\nTo: b@remote.test\r\nSubject: hi\r\nMessage-ID: <q1@example.test>\r\n\r\nbody\r\n"

pytestmark = pytest.mark.django_db

dispatched: list[int] = []
noticed: list[tuple[int, list[str]]] = []
queue_dispatch_hook_register(dispatched.extend)
queue_notice_hook_register(lambda outbound, recipients: noticed.append((outbound.pk, [r.address for r in recipients])))


def _enqueue(*addresses: str) -> OutboundMessage:
    return queue_enqueue(raw=RAW, sender="a@example.test", recipients=[QueueRecipient(a) for a in addresses])


def _defer_all(outbound: OutboundMessage, minutes: int = 30) -> None:
    outbound.recipients.update(state=QueueState.DEFERRED, next_attempt=timezone.now() + timedelta(minutes=minutes))


def test_retry_makes_deferred_recipients_due_and_dispatches(django_capture_on_commit_callbacks):
    """retry: deferred recipients become due now and the message is dispatched after commit."""
    outbound = _enqueue("b@remote.test", "c@other.test")
    _defer_all(outbound)
    assert queue_due_message_ids(now=timezone.now()) == []
    dispatched.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert queue_retry(outbound_id=outbound.pk) == 2
    assert dispatched == [outbound.pk]
    assert queue_due_message_ids(now=timezone.now()) == [outbound.pk]


def test_hold_stops_claims_until_release(django_capture_on_commit_callbacks):
    """hold: nothing is claimable; release: recipients are queued and due again."""
    outbound = _enqueue("b@remote.test")
    assert queue_hold(outbound_id=outbound.pk) == 1
    assert OutboundRecipient.objects.get(message=outbound).state == QueueState.HELD
    assert queue_claim(outbound_ids=[outbound.pk], lease_seconds=60) == []
    assert queue_due_message_ids(now=timezone.now()) == []
    dispatched.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert queue_release(outbound_id=outbound.pk) == 1
    assert dispatched == [outbound.pk]
    assert [r.address for r in queue_claim(outbound_ids=[outbound.pk], lease_seconds=60)] == ["b@remote.test"]


def test_delete_removes_rows_logs_and_drops_blob_reference():
    """delete: the message and recipients are gone, one 'discarded' log row each, blob refcount back."""
    outbound = _enqueue("b@remote.test", "c@remote.test")
    blob = Blob.objects.get(pk=outbound.blob_id)
    assert queue_delete(outbound_id=outbound.pk) == 2
    assert not OutboundMessage.objects.filter(pk=outbound.pk).exists()
    assert DeliveryLog.objects.filter(queue_id=outbound.pk, event="discarded").count() == 2
    assert Blob.objects.get(pk=blob.pk).refcount == blob.refcount - 1
    with pytest.raises(NotFound):
        queue_delete(outbound_id=outbound.pk)


def test_bounce_fails_unfinished_recipients_and_calls_notice_hook_once():
    """bounce: unfinished recipients become bounced; sent ones stay; one notice for the lot."""
    outbound = _enqueue("b@remote.test", "c@remote.test", "d@remote.test")
    sent = outbound.recipients.get(address="d@remote.test")
    sent.state = QueueState.SENT
    sent.save()
    noticed.clear()
    assert queue_bounce(outbound_id=outbound.pk) == 2
    states = dict(outbound.recipients.values_list("address", "state"))
    assert states == {"b@remote.test": "bounced", "c@remote.test": "bounced", "d@remote.test": "sent"}
    assert noticed == [(outbound.pk, ["b@remote.test", "c@remote.test"])]
    assert queue_bounce(outbound_id=outbound.pk) == 0
    assert len(noticed) == 1
    assert queue_messages().filter(pk=outbound.pk).count() == 0


def test_claim_takes_due_rows_once_and_leases_them():
    """claim: a second claim finds nothing while the lease runs; attempts count up."""
    outbound = _enqueue("b@remote.test", "c@other.test")
    first = queue_claim(outbound_ids=[outbound.pk], lease_seconds=600)
    assert [r.domain for r in first] == ["other.test", "remote.test"]
    assert all(r.attempts == 1 for r in first)
    assert queue_claim(outbound_ids=[outbound.pk], lease_seconds=600) == []
    # An expired lease (a dead worker) makes the rows due again.
    outbound.recipients.update(next_attempt=timezone.now() - timedelta(seconds=1))
    again = queue_claim(outbound_ids=[outbound.pk], lease_seconds=600)
    assert [r.attempts for r in again] == [2, 2]


def test_outcomes_record_states_and_log_rows():
    """outcomes: each recipient's state, reply and host are stored, with a log row per attempt."""
    outbound = _enqueue("b@remote.test", "c@remote.test")
    b, c = outbound.recipients.order_by("address")
    later = timezone.now() + timedelta(minutes=5)
    queue_outcomes_record(
        outbound=outbound,
        outcomes=[
            AttemptOutcome(b.pk, QueueState.SENT, "250 2.0.0 ok", host="mx.remote.test", tls=True),
            AttemptOutcome(c.pk, QueueState.DEFERRED, "451 4.3.0 later", host="mx.remote.test", next_attempt=later),
        ],
    )
    b.refresh_from_db()
    c.refresh_from_db()
    assert (b.state, b.last_host) == ("sent", "mx.remote.test")
    assert (c.state, c.next_attempt) == ("deferred", later)
    logs = {row.recipient: row for row in DeliveryLog.objects.filter(queue_id=outbound.pk).exclude(event="queued")}
    assert logs["b@remote.test"].event == "relayed" and logs["b@remote.test"].tls
    assert logs["c@remote.test"].event == "deferred" and logs["c@remote.test"].reply == "451 4.3.0 later"
    row = queue_messages().get(pk=outbound.pk)
    assert row.pending == 1 and row.next_attempt == later
