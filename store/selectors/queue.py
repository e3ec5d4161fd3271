"""Queue selectors: what the relay, the CLI and the admin panel read about the outbound queue."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Min, Q, QuerySet

from store.models import OutboundMessage, OutboundRecipient, QueueState

UNFINISHED = (QueueState.QUEUED, QueueState.DEFERRED, QueueState.HELD)


def queue_due_message_ids(*, now: datetime, limit: int = 1000) -> list[int]:
    """Messages with at least one recipient whose attempt time has come (for the periodic sweep)."""
    return list(
        OutboundRecipient.objects.filter(
            state__in=(QueueState.QUEUED, QueueState.DEFERRED), next_attempt__lte=now, message__held=False
        )
        .values_list("message_id", flat=True)
        .distinct()
        .order_by("message_id")[:limit]
    )


def queue_due_message_ids_by_destination(*, now: datetime, limit: int = 1000) -> list[int]:
    """Messages with due recipients, those of the same destination domain next to each other
    (so the sweep's tasks carry a destination's messages together), oldest first within one."""
    pairs = (
        OutboundRecipient.objects.filter(
            state__in=(QueueState.QUEUED, QueueState.DEFERRED), next_attempt__lte=now, message__held=False
        )
        .values_list("domain", "message_id")
        .distinct()
        .order_by("domain", "message_id")[:limit]
    )
    return list(dict.fromkeys(message_id for _, message_id in pairs))


def queue_messages(*, include_finished: bool = False) -> QuerySet[OutboundMessage]:
    """Queued messages, oldest first, with their unfinished recipient count and next attempt."""
    rows = OutboundMessage.objects.annotate(
        pending=Count("recipients", filter=Q(recipients__state__in=UNFINISHED)),
        next_attempt=Min("recipients__next_attempt", filter=Q(recipients__state__in=UNFINISHED)),
    )
    if not include_finished:
        rows = rows.filter(pending__gt=0)
    return rows.order_by("created", "pk")


def queue_message(outbound_id: int) -> OutboundMessage | None:
    return OutboundMessage.objects.filter(pk=outbound_id).first()


def queue_recipients(outbound_id: int) -> list[OutboundRecipient]:
    return list(OutboundRecipient.objects.filter(message_id=outbound_id).order_by("domain", "address"))
