"""Outbound queue services (DESIGN rule 2): rows are the truth.

`queue_enqueue` commits the message and its recipients as rows; after commit it calls the
dispatch hooks (the MTA registers one that sends a Celery "deliver row N" message). Losing that
message only delays delivery: the periodic sweep finds due rows by themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from store.addresses import split_address
from store.blobs import blob_digest, blobs_write, wire_facts
from store.errors import NotFound
from store.models import Blob, DeliveryLog, OutboundMessage, OutboundRecipient, QueueState
from store.parse import ParsedMessage, parse_message
from store.services.log import log_record

DispatchHook = Callable[[int], None]
_dispatch_hooks: list[DispatchHook] = []


def queue_dispatch_hook_register(hook: DispatchHook) -> None:
    """Register a function called with the OutboundMessage id after each enqueue commits."""
    if hook not in _dispatch_hooks:
        _dispatch_hooks.append(hook)


def queue_dispatch(message_id: int) -> None:
    for hook in list(_dispatch_hooks):
        hook(message_id)


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
    recipients): one INSERT each for blobs, messages, recipients and log rows, one UPDATE per
    distinct blob reference count. Durable when the outermost transaction commits; each message
    is dispatched once after that commit (DESIGN rules 1 and 2)."""
    if not items:
        return []
    parsed_list = [item.parsed or parse_message(item.raw) for item in items]
    written = iter(blobs_write([item.raw for item in items if not item.blob_written_by_caller]))
    digests = [blob_digest(item.raw) if item.blob_written_by_caller else next(written) for item in items]
    now = timezone.now()
    with transaction.atomic():
        blob_rows: dict[str, Blob] = {}
        refs: dict[str, int] = {}
        for item, parsed, digest in zip(items, parsed_list, digests, strict=True):
            refs[digest] = refs.get(digest, 0) + 1
            if digest not in blob_rows:
                wire = wire_facts(item.raw)
                blob_rows[digest] = Blob(sha256=digest, size=len(item.raw), envelope=parsed.envelope,
                                         body=parsed.body, wire_size=wire.size, wire_crlf=wire.crlf,
                                         wire_dots=wire.dots)  # fmt: skip
        Blob.objects.bulk_create(blob_rows.values(), ignore_conflicts=True)
        by_count: dict[int, list[str]] = {}
        for digest, count in refs.items():
            by_count.setdefault(count, []).append(digest)
        for count, same in by_count.items():
            Blob.objects.filter(pk__in=same).update(refcount=F("refcount") + count)
        outbounds = OutboundMessage.objects.bulk_create(
            OutboundMessage(
                blob_id=digest,
                sender=item.sender,
                message_id=parsed.message_id[:998],
                size=len(item.raw),
                smtputf8=item.smtputf8,
                body_8bit=item.body_8bit,
                dsn_ret=item.dsn_ret,
                dsn_envid=item.dsn_envid,
                submitted_by=item.submitted_by,
                client_ip=item.client_ip,
            )
            for item, parsed, digest in zip(items, parsed_list, digests, strict=True)
        )
        if any(outbound.pk is None for outbound in outbounds):  # SQLite >= 3.35 and PostgreSQL return them
            raise RuntimeError("the database returned no ids for the queued messages")
        OutboundRecipient.objects.bulk_create(
            OutboundRecipient(
                message=outbound,
                address=r.address,
                domain=split_address(r.address)[1],
                state=QueueState.QUEUED,
                next_attempt=now,
                dsn_notify=r.notify,
                dsn_orcpt=r.orcpt,
            )
            for item, outbound in zip(items, outbounds, strict=True)
            for r in item.recipients
        )
        DeliveryLog.objects.bulk_create(
            DeliveryLog(
                event="queued",
                queue_id=outbound.pk,
                message_id=outbound.message_id,
                sender=item.sender,
                recipient=r.address,
                client_ip=item.client_ip,
                size=len(item.raw),
            )
            for item, outbound in zip(items, outbounds, strict=True)
            for r in item.recipients
        )
        outbound_ids = [outbound.pk for outbound in outbounds]
        transaction.on_commit(lambda: _dispatch_each(outbound_ids))
    return outbounds


def _dispatch_each(outbound_ids: list[int]) -> None:
    for outbound_id in outbound_ids:
        queue_dispatch(outbound_id)


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
    transaction.on_commit(lambda: queue_dispatch(outbound_id))


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


def queue_claim(*, outbound_id: int | None, lease_seconds: int, batch: int = 1) -> list[OutboundRecipient]:
    """Claim the due recipients of one message for one delivery attempt, and with `batch` > 1
    up to that many more due recipients of other messages (same destinations first), so one
    worker carries them over the same connections and records them in one transaction.
    outbound_id None: only the `batch` due recipients, oldest first.

    The rows are locked (PostgreSQL skips rows another worker holds; SQLite's IMMEDIATE
    transactions serialise claims) and their next_attempt moves one lease ahead, so no other
    worker sees them as due while this attempt runs. A worker that dies leaves the lease to
    expire, and the sweep retries the rows then: delivery is at-least-once.
    """
    now = timezone.now()
    with transaction.atomic():
        candidates = (
            OutboundRecipient.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("message")
            .filter(state__in=PENDING_STATES, next_attempt__lte=now, message__held=False)
        )
        due = []
        if outbound_id is not None:
            due = list(candidates.filter(message_id=outbound_id).order_by("domain", "pk"))
        if batch > 1:
            others = candidates.exclude(message_id=outbound_id)
            if due:
                others = others.filter(domain__in={r.domain for r in due})
            due += list(others.order_by("next_attempt", "pk")[:batch])
        if not due:
            return []
        lease_end = now + timedelta(seconds=lease_seconds)
        OutboundRecipient.objects.filter(pk__in=[r.pk for r in due]).update(
            next_attempt=lease_end, attempts=F("attempts") + 1
        )
        for recipient in due:
            recipient.next_attempt = lease_end
            recipient.attempts += 1
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


def queue_outcomes_record(
    *, outbound: OutboundMessage, outcomes: Sequence[AttemptOutcome], addresses: dict[int, str] | None = None
) -> None:
    """Record an attempt's result per recipient, with one delivery log row each; call in a transaction."""
    events = {QueueState.SENT: "relayed", QueueState.DEFERRED: "deferred", QueueState.BOUNCED: "bounced"}
    same_update: dict[tuple[object, ...], list[int]] = {}
    for outcome in outcomes:
        key = (outcome.state, outcome.reply[:2000], outcome.host[:255], outcome.next_attempt)
        same_update.setdefault(key, []).append(outcome.recipient_id)
    for (state, reply, host, next_attempt), ids in same_update.items():
        fields: dict[str, object] = {"state": state, "last_reply": reply}
        if host:
            fields["last_host"] = host
        if next_attempt is not None:
            fields["next_attempt"] = next_attempt
        OutboundRecipient.objects.filter(pk__in=ids).update(updated=timezone.now(), **fields)
    recipients = dict(addresses or {})
    missing = [o.recipient_id for o in outcomes if o.recipient_id not in recipients]
    if missing:
        recipients.update(OutboundRecipient.objects.filter(pk__in=missing).values_list("pk", "address"))
    DeliveryLog.objects.bulk_create(
        DeliveryLog(
            event=events[QueueState(outcome.state)],
            queue_id=outbound.pk,
            message_id=outbound.message_id,
            sender=outbound.sender,
            recipient=recipients.get(outcome.recipient_id, ""),
            remote_host=outcome.host[:255],
            reply=outcome.reply[:2000],
            tls=outcome.tls,
            size=outbound.size,
        )
        for outcome in outcomes
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
