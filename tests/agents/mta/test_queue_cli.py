"""`yubin queue ...` on real queue rows, and two workers claiming the same message at once."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from agents.mta.queue import relay_message
from store.models import DeliveryLog, OutboundMessage, OutboundRecipient


def _yubin(*args: str) -> str:
    out = StringIO()
    call_command("yubin", *args, stdout=out)
    return out.getvalue()


def test_list_show_hold_release_retry(relay_env):
    """list shows pending messages; show gives per-recipient state; hold/release/retry change them."""
    relay_env.sink.handler.rcpt_replies.append("451 4.7.1 greylisted")
    outbound = relay_env.enqueue("hanako@remote.test")
    relay_message(outbound.pk)
    listing = _yubin("queue", "list")
    assert "ID" in listing and str(outbound.pk) in listing and "taro@example.test" in listing
    assert "451 4.7.1 greylisted" in listing
    shown = _yubin("queue", "show", str(outbound.pk))
    assert "hanako@remote.test" in shown and "deferred" in shown and "mx.remote.test" in shown
    assert "1 recipient(s) held" in _yubin("queue", "hold", str(outbound.pk))
    assert "held" in _yubin("queue", "list")
    assert relay_message(outbound.pk) == 0
    assert "1 recipient(s) released" in _yubin("queue", "release", str(outbound.pk))
    assert relay_message(outbound.pk) == 1
    assert OutboundRecipient.objects.get(message=outbound).state == "sent"
    assert "queue is empty" in _yubin("queue", "list")
    assert "done" in _yubin("queue", "list", "--all")


def test_retry_makes_a_deferred_message_due(relay_env):
    """retry: a deferred recipient is attempted at once."""
    relay_env.sink.handler.rcpt_replies.append("451 4.3.0 later")
    outbound = relay_env.enqueue()
    relay_message(outbound.pk)
    assert relay_message(outbound.pk) == 0
    assert "1 recipient(s) due now" in _yubin("queue", "retry", str(outbound.pk))
    assert relay_message(outbound.pk) == 1
    assert len(relay_env.sink.received) == 1


def test_bounce_sends_one_report_and_delete_sends_none(relay_env):
    """bounce: the sender gets one failure report; delete: the message goes without a report."""
    bounced = relay_env.enqueue("a@remote.test")
    deleted = relay_env.enqueue("b@remote.test")
    assert "1 recipient(s) bounced" in _yubin("queue", "bounce", str(bounced.pk))
    [report] = relay_env.inbox()
    assert b"Bounced by the postmaster" in report and b"Action: failed" in report
    assert "deleted" in _yubin("queue", "delete", str(deleted.pk))
    assert not OutboundMessage.objects.filter(pk=deleted.pk).exists()
    assert len(relay_env.inbox()) == 1
    assert DeliveryLog.objects.filter(queue_id=deleted.pk, event="discarded").count() == 1


def test_unknown_id_is_a_clean_error(relay_env):
    """An unknown id: one-line error, exit status 1."""
    with pytest.raises(SystemExit) as caught:
        _yubin("queue", "show", "999999")
    assert caught.value.code == 1


def test_two_workers_racing_on_one_message_deliver_it_once(relay_env):
    """Two threads run the same delivery at once: the claim gives the rows to one of them only."""
    relay_env.sink.handler.data_delay = 0.5
    outbound = relay_env.enqueue("a@remote.test", "b@remote.test")
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        try:
            barrier.wait()
            counts.append(relay_message(outbound.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(counts) == [0, 2]
    assert len(relay_env.sink.received) == 1
