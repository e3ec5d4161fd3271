"""Outbound queue services (DESIGN rule 2): rows are the truth.

`queue_enqueue` commits the message and its recipients as rows; after commit it calls the
dispatch hooks with the ids committed together (the MTA registers one that sends a Celery
"deliver rows N, M, ..." message). Losing that message only delays delivery: the periodic sweep
finds due rows by themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from store.addresses import split_address
from store.blobs import WireFacts, blob_digest, blobs_write
from store.errors import NotFound
from store.models import Blob, DeliveryLog, OutboundMessage, OutboundRecipient, QueueState
from store.parse import ParsedMessage, parse_message
from store.services.log import log_record
from store.services.messages import _blob_row, _insert, _insert_returning_ids, blobs_reference

DispatchHook = Callable[[Sequence[int]], None]
_dispatch_hooks: list[DispatchHook] = []


def queue_dispatch_hook_register(hook: DispatchHook) -> None:
    """Register a function called with the OutboundMessage ids of each committed enqueue."""
    if hook not in _dispatch_hooks:
        _dispatch_hooks.append(hook)


def queue_dispatch(message_ids: Sequence[int]) -> None:
    for hook in list(_dispatch_hooks):
        hook(message_ids)


@dataclass(frozen=True)
class QueueRecipient:
    address: str
    notify: str = ""  # DSN NOTIFY (RFC 3461 §4.1)
    orcpt: str = ""  # DSN ORCPT (RFC 3461 §4.2)


@dataclass(frozen=True)
class QueueItem:
    """One message for queue_enqueue_batch."""

    raw: bytes
    sender: str
    recipients: Sequence[QueueRecipient]
    parsed: ParsedMessage | None = None
    smtputf8: bool = False
    body_8bit: bool = False
    dsn_ret: str = ""
    dsn_envid: str = ""
    submitted_by: str = ""
    client_ip: str | None = None
    # The caller writes and fsyncs the message file itself and makes sure it is durable before
    # the transaction commits (the SMTP group commit does, in parallel with the inserts).
    blob_written_by_caller: bool = False
    wire: WireFacts | None = None  # as DeliveryItem.wire
    # Log rows of the message's earlier steps (the SMTP server's "received" lines), written just
    # before its "queued" lines, in the same insert.
    log_before: Sequence[Mapping[str, object]] = ()


def queue_enqueue(
    *,
    raw: bytes,
    sender: str,
    recipients: Sequence[QueueRecipient],
    parsed: ParsedMessage | None = None,
    smtputf8: bool = False,
    body_8bit: bool = False,
    dsn_ret: str = "",
    dsn_envid: str = "",
    submitted_by: str = "",
    client_ip: str | None = None,
) -> OutboundMessage:
    """Put a message for remote recipients into the queue; durable when this returns."""
    item = QueueItem(raw=raw, sender=sender, recipients=recipients, parsed=parsed, smtputf8=smtputf8,
                     body_8bit=body_8bit, dsn_ret=dsn_ret, dsn_envid=dsn_envid, submitted_by=submitted_by,
                     client_ip=client_ip)  # fmt: skip
    return queue_enqueue_batch(items=[item])[0]


def queue_enqueue_batch(*, items: Sequence[QueueItem]) -> list[OutboundMessage]:
    """Queue many messages with a fixed number of statements (the SMTP group commit's remote
    recipients): one INSERT each for blobs, messages, recipients and log rows (executemany where
    no ids come back), one UPDATE run for the blob reference counts. Durable when the outermost
    transaction commits; the messages are dispatched together once after that commit (DESIGN
    rules 1 and 2)."""
    if not items:
        return []
    # Outbound mail is not searched: its parse needs no search text (the MDA's has its own).
    parsed_list = [item.parsed or parse_message(item.raw, search=False) for item in items]
    written = iter(blobs_write([item.raw for item in items if not item.blob_written_by_caller]))
    digests = [blob_digest(item.raw) if item.blob_written_by_caller else next(written) for item in items]
    with transaction.atomic():
        refs: dict[str, int] = {}
        blob_rows: list[dict[str, object]] = []
        for item, parsed, digest in zip(items, parsed_list, digests, strict=True):
            if digest not in refs:
                blob_rows.append(_blob_row(digest, item.raw, parsed, item.wire))
            refs[digest] = refs.get(digest, 0) + 1
        # Rows go in through executemany (store.services.messages._insert): bulk_create compiled
        # each statement and built a model instance per row, a third of the MX's Python time.
        blobs_reference(blob_rows, refs)
        # One INSERT ... RETURNING for the messages (bulk_create compiled the statement and
        # built a model instance per message: the largest part of the MX's CPU when it queues).
        now = timezone.now()
        rows: list[dict[str, object]] = [
            {
                "blob_id": digest,
                "sender": item.sender,
                "message_id": parsed.message_id[:998],
                "size": len(item.raw),
                "smtputf8": item.smtputf8,
                "body_8bit": item.body_8bit,
                "dsn_ret": item.dsn_ret,
                "dsn_envid": item.dsn_envid,
                "submitted_by": item.submitted_by,
                "client_ip": item.client_ip,
                "created": now,
            }
            for item, parsed, digest in zip(items, parsed_list, digests, strict=True)
        ]
        outbounds = []
        for row, pk in zip(rows, _insert_returning_ids(OutboundMessage, rows), strict=True):
            outbound = OutboundMessage(pk=pk, **row)
            outbound._state.adding = False
            outbound._state.db = connection.alias
            outbounds.append(outbound)
        _insert(
            OutboundRecipient,
            [
                {"message_id": outbound.pk, "address": r.address, "domain": split_address(r.address)[1],
                 "state": QueueState.QUEUED.value, "next_attempt": now, "dsn_notify": r.notify, "dsn_orcpt": r.orcpt}
                for item, outbound in zip(items, outbounds, strict=True)
                for r in item.recipients
            ],
        )  # fmt: skip
        log_rows: list[dict[str, object]] = []
        for item, outbound in zip(items, outbounds, strict=True):
            log_rows.extend(dict(row) for row in item.log_before)
            log_rows.extend(
                {"event": "queued", "queue_id": outbound.pk, "message_id": outbound.message_id,
                 "sender": item.sender, "recipient": r.address, "client_ip": item.client_ip, "size": len(item.raw)}
                for r in item.recipients
            )  # fmt: skip
        _insert(DeliveryLog, log_rows)
        outbound_ids = [outbound.pk for outbound in outbounds]
        transaction.on_commit(lambda: queue_dispatch(outbound_ids))
    return outbounds


# --- queue actions (admin CLI and panel) and the relay's state transitions ---

PENDING_STATES = (QueueState.QUEUED, QueueState.DEFERRED)
UNFINISHED_STATES = (QueueState.QUEUED, QueueState.DEFERRED, QueueState.HELD)
ADMIN_BOUNCE_REPLY = "550 5.0.0 Bounced by the postmaster"

# A notice hook composes and sends a DSN (RFC 3464) for recipients that just failed; the relay
# registers one. It runs inside the caller's transaction, so the state change and the notice to
# the sender commit together or not at all.
NoticeHook = Callable[[OutboundMessage, list[OutboundRecipient]], None]
_notice_hooks: list[NoticeHook] = []


def queue_notice_hook_register(hook: NoticeHook) -> None:
    """Register a function called (inside the transaction) with recipients bounced by queue_bounce."""
    if hook not in _notice_hooks:
        _notice_hooks.append(hook)


def _outbound_locked(outbound_id: int) -> OutboundMessage:
    outbound = OutboundMessage.objects.select_for_update().filter(pk=outbound_id).first()
    if outbound is None:
        raise NotFound(f"no queued message {outbound_id}")
    return outbound


def _dispatch_after_commit(outbound_id: int) -> None:
    transaction.on_commit(lambda: queue_dispatch([outbound_id]))


def _log_each(outbound: OutboundMessage, recipients: list[OutboundRecipient], *, event: str, reply: str) -> None:
    for recipient in recipients:
        log_record(
            event=event,
            queue_id=outbound.pk,
            message_id=outbound.message_id,
            sender=outbound.sender,
            recipient=recipient.address,
            reply=reply,
        )


def queue_retry(*, outbound_id: int) -> int:
    """Make every queued or deferred recipient due now (like `postqueue -i`); returns how many."""
    with transaction.atomic():
        outbound = _outbound_locked(outbound_id)
        count = outbound.recipients.filter(state__in=PENDING_STATES).update(next_attempt=timezone.now())
        if count and not outbound.held:
            _dispatch_after_commit(outbound.pk)
    return count


def queue_hold(*, outbound_id: int) -> int:
    """Put a message on hold (like `postsuper -h`): no delivery attempt until released."""
    with transaction.atomic():
        outbound = _outbound_locked(outbound_id)
        outbound.held = True
        outbound.save(update_fields=["held"])
        return outbound.recipients.filter(state__in=PENDING_STATES).update(state=QueueState.HELD)


def queue_release(*, outbound_id: int) -> int:
    """Release a held message (like `postsuper -H`): its recipients become due now."""
    with transaction.atomic():
        outbound = _outbound_locked(outbound_id)
        outbound.held = False
        outbound.save(update_fields=["held"])
        count = outbound.recipients.filter(state=QueueState.HELD).update(
            state=QueueState.QUEUED, next_attempt=timezone.now()
        )
        if count:
            _dispatch_after_commit(outbound.pk)
    return count


def queue_delete(*, outbound_id: int) -> int:
    """Delete a message from the queue without notice to the sender (like `postsuper -d`)."""
    with transaction.atomic():
        outbound = _outbound_locked(outbound_id)
        unfinished = list(outbound.recipients.filter(state__in=UNFINISHED_STATES))
        _log_each(outbound, unfinished, event="discarded", reply="deleted from the queue by the postmaster")
        Blob.objects.filter(pk=outbound.blob_id).update(refcount=F("refcount") - 1)
        outbound.delete()
    return len(unfinished)


def queue_bounce(*, outbound_id: int, reply: str = ADMIN_BOUNCE_REPLY) -> int:
    """Fail every unfinished recipient now and send the sender one DSN (like `postsuper -b`-style bounce)."""
    with transaction.atomic():
        outbound = _outbound_locked(outbound_id)
        unfinished = list(outbound.recipients.filter(state__in=UNFINISHED_STATES))
        for recipient in unfinished:
            recipient.state = QueueState.BOUNCED
            recipient.last_reply = reply
            recipient.save(update_fields=["state", "last_reply", "updated"])
        _log_each(outbound, unfinished, event="bounced", reply=reply)
        if unfinished:
            for hook in list(_notice_hooks):
                hook(outbound, unfinished)
    return len(unfinished)


_CLAIM_COLUMNS = ("id", "message_id", "address", "domain", "state", "attempts", "dsn_notify", "dsn_orcpt")


def queue_claim(*, outbound_ids: Sequence[int], lease_seconds: int) -> list[OutboundRecipient]:
    """Claim the due recipients of these messages for one delivery attempt, in one statement.

    The rows' next_attempt moves one lease ahead (and attempts up by one), so no other worker
    sees them as due while this attempt runs; PostgreSQL skips rows another worker holds,
    SQLite's IMMEDIATE transactions serialise claims. A worker that dies leaves the lease to
    expire, and the sweep retries the rows then: delivery is at-least-once. Rows come back
    with their message loaded, ordered by domain, message and id. Held messages are left alone.
    """
    ids = sorted({int(outbound_id) for outbound_id in outbound_ids})
    if not ids:
        return []
    now = timezone.now()
    lease_end = now + timedelta(seconds=lease_seconds)
    recipients_table = connection.ops.quote_name(OutboundRecipient._meta.db_table)
    messages_table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    in_ids = ", ".join(["%s"] * len(ids))
    skip_locked = " FOR UPDATE OF d SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = (
        f"UPDATE {recipients_table} SET next_attempt = %s, attempts = attempts + 1 WHERE id IN ("  # noqa: S608
        f"SELECT d.id FROM {recipients_table} d JOIN {messages_table} m ON m.id = d.message_id "
        f"WHERE d.message_id IN ({in_ids}) AND d.state IN (%s, %s) AND d.next_attempt <= %s AND NOT m.held"
        f"{skip_locked}) RETURNING {', '.join(_CLAIM_COLUMNS)}"
    )  # fmt: skip
    adapt = connection.ops.adapt_datetimefield_value
    params = [adapt(lease_end), *ids, QueueState.QUEUED.value, QueueState.DEFERRED.value, adapt(now)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return []
    # Without the model's default ordering, which compiling cost more than the query.
    messages = OutboundMessage.objects.order_by().in_bulk({row[1] for row in rows})
    due = []
    for row in rows:
        recipient = OutboundRecipient(**dict(zip(_CLAIM_COLUMNS, row, strict=True)), next_attempt=lease_end)
        recipient._state.adding = False
        recipient._state.db = connection.alias
        recipient.message = messages[recipient.message_id]
        due.append(recipient)
    due.sort(key=lambda r: (r.domain, r.message_id, r.pk))
    return due


@dataclass(frozen=True)
class AttemptOutcome:
    """What one delivery attempt did for one recipient."""

    recipient_id: int
    state: str  # QueueState.SENT, DEFERRED or BOUNCED
    reply: str
    host: str = ""
    tls: bool = False
    next_attempt: datetime | None = None  # for DEFERRED


@dataclass(frozen=True)
class MessageOutcomes:
    """One message's attempt results, for queue_outcomes_record_batch."""

    outbound: OutboundMessage
    outcomes: Sequence[AttemptOutcome]
    addresses: dict[int, str] | None = None  # recipient id -> address, when the caller has them


_EVENTS = {QueueState.SENT: "relayed", QueueState.DEFERRED: "deferred", QueueState.BOUNCED: "bounced"}


def queue_outcomes_record(
    *, outbound: OutboundMessage, outcomes: Sequence[AttemptOutcome], addresses: dict[int, str] | None = None
) -> None:
    """Record an attempt's result per recipient, with one delivery log row each; call in a transaction."""
    queue_outcomes_record_batch(results=[MessageOutcomes(outbound, outcomes, addresses)])


def queue_outcomes_record_batch(*, results: Sequence[MessageOutcomes]) -> None:
    """Record the attempts of many messages with two statements: one UPDATE run for every
    recipient (state, reply, host, next attempt) and one INSERT of a delivery log row each.
    Call inside a transaction."""
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    table = connection.ops.quote_name(OutboundRecipient._meta.db_table)
    updates = [
        (str(QueueState(o.state).value), o.reply[:2000], o.host[:255], o.host[:255],
         adapt(o.next_attempt) if o.next_attempt is not None else None, adapt(now), o.recipient_id)
        for result in results
        for o in result.outcomes
    ]  # fmt: skip
    if not updates:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET state = %s, last_reply = %s, last_host = CASE WHEN %s = '' THEN last_host "  # noqa: S608
            "ELSE %s END, next_attempt = COALESCE(%s, next_attempt), updated = %s WHERE id = %s",
            updates,
        )
    recipients: dict[int, str] = {}
    for result in results:
        recipients.update(result.addresses or {})
    missing = [o.recipient_id for r in results for o in r.outcomes if o.recipient_id not in recipients]
    if missing:
        recipients.update(OutboundRecipient.objects.filter(pk__in=missing).values_list("pk", "address"))
    # One executemany (store.services.messages._insert): bulk_create's model instances and
    # statement compilation were a tenth of a relay worker's CPU.
    _insert(
        DeliveryLog,
        [
            {
                "event": _EVENTS[QueueState(outcome.state)],
                "queue_id": result.outbound.pk,
                "message_id": result.outbound.message_id,
                "sender": result.outbound.sender,
                "recipient": recipients.get(outcome.recipient_id, ""),
                "remote_host": outcome.host[:255],
                "reply": outcome.reply[:2000],
                "tls": outcome.tls,
                "size": result.outbound.size,
            }
            for result in results
            for outcome in result.outcomes
        ],
    )


def queue_warned_mark(*, outbound_id: int) -> None:
    """Remember that the sender got its delay warning (sent once per message)."""
    OutboundMessage.objects.filter(pk=outbound_id).update(warned=True)


def queue_claim_release(*, recipient_ids: Sequence[int], delay_seconds: int) -> None:
    """Give claimed rows back without an attempt (e.g. the destination's concurrency limit was reached)."""
    OutboundRecipient.objects.filter(pk__in=list(recipient_ids)).update(
        next_attempt=timezone.now() + timedelta(seconds=delay_seconds), attempts=F("attempts") - 1
    )


def queue_prune(*, older_than_days: int) -> int:
    """Drop finished queue messages (every recipient sent or bounced) older than this; their delivery
    log lines stay for message tracking. Returns how many messages were dropped."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    finished = (
        OutboundMessage.objects.filter(created__lt=cutoff)
        .exclude(recipients__state__in=UNFINISHED_STATES)
        .values_list("pk", "blob_id")
    )
    dropped = 0
    for outbound_id, blob_id in list(finished[:10000]):
        with transaction.atomic():
            if OutboundRecipient.objects.filter(message_id=outbound_id, state__in=UNFINISHED_STATES).exists():
                continue
            if OutboundMessage.objects.filter(pk=outbound_id).delete()[0]:
                Blob.objects.filter(pk=blob_id).update(refcount=F("refcount") - 1)
                dropped += 1
    return dropped
