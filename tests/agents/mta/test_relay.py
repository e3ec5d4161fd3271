"""Relaying queued mail to a real SMTP server on loopback: grouping, retries, bounces, expiry."""

from __future__ import annotations

import contextlib
import email
import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.mta.queue import relay_message, relay_messages, retry_delay
from store.models import DeliveryLog, OutboundMessage, OutboundRecipient
from store.services.queue import QueueRecipient
from tests.agents.mta.conftest import message


def _states(outbound) -> dict[str, str]:
    return dict(OutboundRecipient.objects.filter(message=outbound).values_list("address", "state"))


def _make_due(outbound) -> None:
    OutboundRecipient.objects.filter(message=outbound).update(next_attempt=timezone.now() - timedelta(seconds=1))


def test_recipients_of_one_domain_share_one_transaction(relay_env):
    """Two recipients at remote.test go in one SMTP transaction; both end 'sent' with a log row each."""
    outbound = relay_env.enqueue("hanako@remote.test", "jiro@remote.test")
    assert relay_message(outbound.pk) == 2
    [received] = relay_env.sink.received
    assert received.recipients == ["hanako@remote.test", "jiro@remote.test"]
    assert received.sender == "taro@example.test"
    assert b"Subject: Hello" in received.data
    assert _states(outbound) == {"hanako@remote.test": "sent", "jiro@remote.test": "sent"}
    logs = DeliveryLog.objects.filter(queue_id=outbound.pk, event="relayed")
    assert sorted(logs.values_list("recipient", "remote_host")) == [
        ("hanako@remote.test", "mx.remote.test"),
        ("jiro@remote.test", "mx.remote.test"),
    ]
    assert all(row.reply.startswith("250 2.0.0") for row in logs)
    # Claimed rows are not attempted twice.
    assert relay_message(outbound.pk) == 0


def test_421_then_451_then_accept_is_delivered_once(relay_env):
    """Temporary failures defer with growing backoff; the third attempt delivers exactly one copy."""
    relay_env.sink.handler.mail_replies.append("421 4.3.2 Service shutting down, try later")
    relay_env.sink.handler.rcpt_replies.append("451 4.3.0 Greylisted, try later")
    outbound = relay_env.enqueue()
    before = timezone.now()
    relay_message(outbound.pk)
    row = OutboundRecipient.objects.get(message=outbound)
    assert (row.state, row.attempts) == ("deferred", 1)
    assert row.last_reply.startswith("421 4.3.2")
    assert timedelta(seconds=295) < row.next_attempt - before < timedelta(seconds=310)
    assert relay_message(outbound.pk) == 0  # not due yet
    _make_due(outbound)
    relay_message(outbound.pk)
    row.refresh_from_db()
    assert (row.state, row.attempts, row.last_reply[:3]) == ("deferred", 2, "451")
    _make_due(outbound)
    relay_message(outbound.pk)
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sent", 3)
    assert len(relay_env.sink.received) == 1
    events = list(DeliveryLog.objects.filter(queue_id=outbound.pk).order_by("id").values_list("event", flat=True))
    assert events == ["queued", "deferred", "deferred", "relayed"]


def test_backoff_doubles_and_is_capped(settings):
    """Retry delays: 5 min, 10, 20, 40, then the 1 hour cap (Postfix's defaults)."""
    settings.YUBIN_RELAY_RETRY_FIRST = 300
    settings.YUBIN_RELAY_RETRY_MAX = 3600
    assert [retry_delay(n) for n in range(1, 7)] == [300, 600, 1200, 2400, 3600, 3600]


def test_550_bounces_once_to_the_local_sender(relay_env):
    """A 550 on RCPT bounces that recipient at once: exactly one RFC 3464 report in the sender's INBOX."""
    relay_env.sink.handler.rcpt_replies.extend(["550 5.1.1 <nobody@remote.test>: user unknown", "250 ok"])
    outbound = relay_env.enqueue(
        QueueRecipient("nobody@remote.test", orcpt="rfc822;nobody@remote.test"), "hanako@remote.test",
        dsn_envid="env-42",
    )  # fmt: skip
    relay_message(outbound.pk)
    assert _states(outbound) == {"nobody@remote.test": "bounced", "hanako@remote.test": "sent"}
    assert relay_env.sink.received[0].recipients == ["hanako@remote.test"]
    _make_due(outbound)
    relay_message(outbound.pk)
    [report] = relay_env.inbox()
    parsed = email.message_from_bytes(report)
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "delivery-status"
    assert parsed["To"] == "<taro@example.test>"
    assert parsed["Auto-Submitted"] == "auto-replied"
    human, status, original = parsed.get_payload()
    assert "user unknown" in human.get_payload(decode=True).decode()
    text = status.as_string()
    assert "Original-Envelope-Id: env-42" in text
    assert "Original-Recipient: rfc822;nobody@remote.test" in text
    assert "Final-Recipient: rfc822; nobody@remote.test" in text
    assert "Action: failed" in text and "Status: 5.1.1" in text
    assert "Remote-MTA: dns; mx.remote.test" in text
    assert "Diagnostic-Code: smtp; 550 5.1.1" in text
    assert original.get_content_type() == "message/rfc822"
    assert original.get_payload()[0]["Subject"] == "Hello"
    assert not OutboundMessage.objects.filter(sender="").exists()  # nothing queued: the sender is local


def test_bounce_to_remote_sender_is_queued_from_the_null_sender(relay_env):
    """A report for a remote sender goes through the queue with the null reverse-path."""
    relay_env.sink.handler.rcpt_replies.append("550 5.1.1 user unknown")
    outbound = relay_env.enqueue("nobody@remote.test", sender="ext@remote.test", dsn_ret="HDRS")
    relay_message(outbound.pk)
    report = OutboundMessage.objects.get(sender="")
    assert list(report.recipients.values_list("address", flat=True)) == ["ext@remote.test"]
    relay_message(report.pk)
    delivered = relay_env.sink.received[-1]
    assert delivered.sender == "" and delivered.recipients == ["ext@remote.test"]
    assert b"text/rfc822-headers" in delivered.data  # RET=HDRS: headers only


def test_null_sender_never_gets_a_bounce(relay_env):
    """A failing report (null sender) is bounced without any new report: no loops."""
    relay_env.sink.handler.rcpt_replies.append("550 5.1.1 user unknown")
    outbound = relay_env.enqueue("nobody@remote.test", sender="")
    relay_message(outbound.pk)
    assert _states(outbound) == {"nobody@remote.test": "bounced"}
    assert OutboundMessage.objects.count() == 1


def test_notify_never_suppresses_the_report(relay_env):
    """NOTIFY=NEVER: the recipient bounces, the sender gets nothing."""
    relay_env.sink.handler.rcpt_replies.append("550 5.1.1 user unknown")
    outbound = relay_env.enqueue(QueueRecipient("nobody@remote.test", notify="NEVER"))
    relay_message(outbound.pk)
    assert _states(outbound) == {"nobody@remote.test": "bounced"}
    assert relay_env.inbox() == []


def test_null_mx_and_nxdomain_bounce_without_connecting(relay_env):
    """Null MX (RFC 7505) and a non-existent domain bounce at the first attempt."""
    relay_env.dns.zone["nomail.test"] = [("MX", "0 .")]
    outbound = relay_env.enqueue("a@nomail.test", "b@missing.test")
    relay_message(outbound.pk)
    assert _states(outbound) == {"a@nomail.test": "bounced", "b@missing.test": "bounced"}
    assert relay_env.sink.handler.connections == 0
    reports = relay_env.inbox()
    assert len(reports) == 2  # one per destination domain attempt
    joined = b"\n".join(reports)
    assert b"Status: 5.1.10" in joined and b"Status: 5.1.2" in joined


def test_unreachable_domain_waits_then_bounces_when_its_lifetime_ends(relay_env, settings):
    """Connection refused: deferred with a next retry time (shown by `yubin queue list`); with a
    2-second lifetime and 1-second retries, the attempt after the lifetime bounces it."""
    import time
    from io import StringIO

    from django.core.management import call_command

    from tests.conftest import free_port

    settings.YUBIN_RELAY_PORT = free_port()  # nothing listens there
    settings.YUBIN_RELAY_LIFETIME = 2
    settings.YUBIN_RELAY_RETRY_FIRST = 1
    settings.YUBIN_RELAY_RETRY_MAX = 1
    outbound = relay_env.enqueue("hanako@remote.test")
    relay_message(outbound.pk)
    row = OutboundRecipient.objects.get(message=outbound)
    assert row.state == "deferred" and "4.4.1" in row.last_reply
    out = StringIO()
    call_command("yubin", "queue", "list", stdout=out)
    listing = out.getvalue()
    assert str(outbound.pk) in listing and timezone.localtime(row.next_attempt).strftime("%H:%M:%S") in listing
    assert "4.4.1" in listing
    time.sleep(2.2)
    assert relay_message(outbound.pk) == 1
    row.refresh_from_db()
    assert row.state == "bounced" and "gave up" in row.last_reply
    [report] = relay_env.inbox()
    assert b"Action: failed" in report and b"Status: 4.4.1" in report
    out = StringIO()
    call_command("yubin", "queue", "list", stdout=out)
    assert "queue is empty" in out.getvalue()


def test_delay_warning_is_sent_once(relay_env, settings):
    """A message deferred past YUBIN_RELAY_DELAY_WARNING gets one 'delayed' report, not one per retry."""
    settings.YUBIN_RELAY_DELAY_WARNING = 60
    relay_env.sink.handler.rcpt_replies.extend(["451 4.3.0 later", "451 4.3.0 later"])
    outbound = relay_env.enqueue()
    OutboundMessage.objects.filter(pk=outbound.pk).update(created=timezone.now() - timedelta(seconds=120))
    relay_message(outbound.pk)
    _make_due(outbound)
    relay_message(outbound.pk)
    [warning] = relay_env.inbox()
    assert b"Action: delayed" in warning and b"Will-Retry-Until:" in warning
    assert b"Delayed Mail" in warning
    assert OutboundMessage.objects.get(pk=outbound.pk).warned


def test_connection_is_reused_for_the_next_message_to_the_same_host(relay_env, settings):
    """Within YUBIN_RELAY_REUSE_SECONDS a second message uses the same session (one EHLO)."""
    settings.YUBIN_RELAY_REUSE_SECONDS = 30
    first = relay_env.enqueue(raw=message(subject="one"))
    second = relay_env.enqueue(raw=message(subject="two"))
    relay_message(first.pk)
    relay_message(second.pk)
    assert len(relay_env.sink.received) == 2
    assert relay_env.sink.handler.connections == 1


def test_size_limit_of_the_server_bounces_before_sending(relay_env):
    """A message larger than the server's SIZE is bounced with 552 5.3.4 without DATA."""
    relay_env.sink.stop()
    from tests.agents.mta.sink import Sink

    small = Sink(port=relay_env.sink.port, data_size_limit=200).start()
    try:
        outbound = relay_env.enqueue(raw=message(body="x" * 500 + "\r\n"))
        relay_message(outbound.pk)
        row = OutboundRecipient.objects.get(message=outbound)
        assert row.state == "bounced" and row.last_reply.startswith("552 5.3.4")
        assert small.received == []
    finally:
        small.stop()
        relay_env.sink.start()


def test_smtputf8_address_to_a_server_without_smtputf8_bounces(relay_env):
    """RFC 6531 §3.4: a UTF-8 address cannot be downgraded: 550 5.6.7."""
    outbound = relay_env.enqueue("花子@remote.test", smtputf8=True)
    relay_message(outbound.pk)
    row = OutboundRecipient.objects.get(message=outbound)
    assert row.state == "bounced" and row.last_reply.startswith("550 5.6.7")


def test_smtputf8_is_passed_to_a_server_that_offers_it(relay_env):
    """With SMTPUTF8 offered, the UTF-8 address goes out with the SMTPUTF8 parameter."""
    relay_env.sink.stop()
    from tests.agents.mta.sink import Sink

    utf8 = Sink(port=relay_env.sink.port, enable_SMTPUTF8=True).start()
    try:
        outbound = relay_env.enqueue("花子@remote.test", smtputf8=True)
        relay_message(outbound.pk)
        [received] = utf8.received
        assert received.recipients == ["花子@remote.test"] and "SMTPUTF8" in received.mail_options
    finally:
        utf8.stop()
        relay_env.sink.start()


def test_source_address_is_bound(relay_env, settings):
    """YUBIN_RELAY_SOURCE: the remote sees the connection coming from that address."""
    settings.YUBIN_RELAY_SOURCE = "127.0.0.9"
    outbound = relay_env.enqueue()
    relay_message(outbound.pk)
    assert relay_env.sink.received[0].peer == "127.0.0.9"


@contextlib.contextmanager
def _slot_held_elsewhere(domain: str, index: int) -> Iterator[None]:
    """Another worker holding a destination slot: a cache key (Redis) or a lock file (file cache)."""
    from django.core.cache import cache

    from agents.mta.queue import slot_file, slots_shared

    if slots_shared():
        cache.set(f"mta:slot:{domain}:{index}", "other-worker", 60)
        try:
            yield
        finally:
            cache.delete(f"mta:slot:{domain}:{index}")
        return
    os.makedirs(os.path.dirname(slot_file(domain, index)), exist_ok=True)
    fd = os.open(slot_file(domain, index), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # its own open file: a lock of its own, as another process's
        yield
    finally:
        os.close(fd)


def test_destination_at_its_concurrency_limit_is_put_back_without_an_attempt(relay_env, settings):
    """Every slot of remote.test taken by other workers: the row waits a few seconds, attempts unchanged."""
    settings.YUBIN_RELAY_DESTINATION_CONCURRENCY = 1
    outbound = relay_env.enqueue()
    with _slot_held_elsewhere("remote.test", 0):
        relay_message(outbound.pk)
    row = OutboundRecipient.objects.get(message=outbound)
    assert (row.state, row.attempts) == ("queued", 0)
    assert relay_env.sink.received == []
    _make_due(outbound)
    relay_message(outbound.pk)
    assert len(relay_env.sink.received) == 1


def test_a_dead_workers_destination_slot_is_free_at_once(relay_env, settings):
    """A worker killed while it holds a destination's slot does not keep it (file cache: lock files
    the kernel releases; a cache key would stay taken until its lease ended)."""
    from agents.mta.queue import slot_file, slots_shared

    if slots_shared():
        pytest.skip("slots in a cache shared between hosts are held for the lease")
    settings.YUBIN_RELAY_DESTINATION_CONCURRENCY = 1
    path = slot_file("remote.test", 0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, path], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
    outbound = relay_env.enqueue()
    relay_message(outbound.pk)
    assert relay_env.sink.received == []  # the live holder keeps it
    holder.kill()
    holder.wait(10)
    _make_due(outbound)
    relay_message(outbound.pk)
    assert len(relay_env.sink.received) == 1


def test_unusable_slot_files_do_not_stop_the_mail(relay_env, settings):
    """The lock files cannot be made (here the directory's name is taken by a file): the message
    is delivered without the limit, and the reason is logged, rather than failing every attempt."""
    from agents.mta.queue import slot_file, slots_shared

    if slots_shared():
        pytest.skip("slots in a cache shared between hosts are cache keys")
    directory = os.path.dirname(slot_file("remote.test", 0))
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)
    with open(directory, "w") as blocker:
        blocker.write("not a directory")
    try:
        outbound = relay_env.enqueue()
        relay_message(outbound.pk)
        assert len(relay_env.sink.received) == 1
        assert OutboundRecipient.objects.get(message=outbound).state == "sent"
    finally:
        os.unlink(directory)


HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def test_pooled_connection_closed_by_the_server_is_replaced(relay_env, settings):
    """The remote drops an idle pooled session (its timeout): the next message opens a new one and is sent."""
    import time

    from tests.agents.mta.sink import Sink

    relay_env.sink.stop()
    relay_env.sink = Sink(port=relay_env.sink.port, timeout=0.5).start()
    settings.YUBIN_RELAY_REUSE_SECONDS = 30
    first = relay_env.enqueue(raw=message(subject="one"))
    relay_message(first.pk)
    time.sleep(1.5)
    second = relay_env.enqueue(raw=message(subject="two"))
    relay_message(second.pk)
    assert OutboundRecipient.objects.get(message=second).state == "sent"
    assert len(relay_env.sink.received) == 2
    assert relay_env.sink.handler.connections == 2


def _relay_counting_statements(outbound_ids: list[int]) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        attempted = relay_messages(outbound_ids)
    return attempted, len(queries.captured_queries)


def test_one_task_carries_many_messages_over_shared_sessions_with_fixed_statements(relay_env, settings):
    """A task naming many messages claims them in one statement, delivers each destination's over
    one session and records every outcome in one transaction: ten messages cost the database the
    same number of statements as two. Naming them again attempts nothing."""
    relay_env.dns.zone.update({"other.test": [("MX", "10 mx.remote.test.")]})
    settings.YUBIN_RELAY_REUSE_SECONDS = 30

    def enqueue(count: int, tag: str) -> list[int]:
        return [
            relay_env.enqueue(f"user{n}@{domain}", raw=message(to=f"user{n}@{domain}", subject=f"{tag}{n}")).pk
            for n in range(count)
            for domain in ["remote.test" if n % 3 else "other.test"]
        ]

    assert relay_messages(enqueue(1, "warm")) == 1  # the sender domain's DKIM key looked up once
    two, ten = enqueue(2, "a"), enqueue(10, "b")
    assert _relay_counting_statements(two)[0] == 2
    attempted, statements = _relay_counting_statements(ten)
    assert attempted == 10
    with CaptureQueriesContext(connection) as queries:
        assert relay_messages(two + ten) == 0
    assert statements == _relay_counting_statements(enqueue(2, "c"))[1]
    assert len(queries.captured_queries) <= 3  # the claim finds nothing: no further statement
    assert len(relay_env.sink.received) == 15
    assert relay_env.sink.handler.connections == 1  # one MX host: every message over one session
    assert OutboundRecipient.objects.filter(state="sent").count() == 15
    assert DeliveryLog.objects.filter(event="relayed").count() == 15
