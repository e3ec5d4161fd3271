"""Outbound queue services (DESIGN rule 2): rows are the truth.

`queue_enqueue` commits the message and its recipients as rows; after commit it calls the
dispatch hooks (the MTA registers one that sends a Celery "deliver row N" message). Losing that
message only delays delivery: the periodic sweep finds due rows by themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from store.addresses import split_address
from store.models import Blob, OutboundMessage, OutboundRecipient, QueueState
from store.parse import ParsedMessage, parse_message
from store.services.blobs import blob_store
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
    parsed = parsed or parse_message(raw)
    now = timezone.now()
    with transaction.atomic():
        digest = blob_store(raw=raw, parsed=parsed)
        Blob.objects.filter(pk=digest).update(refcount=F("refcount") + 1)
        outbound = OutboundMessage.objects.create(
            blob_id=digest,
            sender=sender,
            message_id=parsed.message_id[:998],
            size=len(raw),
            smtputf8=smtputf8,
            body_8bit=body_8bit,
            dsn_ret=dsn_ret,
            dsn_envid=dsn_envid,
            submitted_by=submitted_by,
            client_ip=client_ip,
        )
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
            for r in recipients
        )
        for r in recipients:
            log_record(
                event="queued",
                queue_id=outbound.pk,
                message_id=outbound.message_id,
                sender=sender,
                recipient=r.address,
                client_ip=client_ip,
                size=len(raw),
            )
        outbound_id = outbound.pk
        transaction.on_commit(lambda: queue_dispatch(outbound_id))
    return outbound
