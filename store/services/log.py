"""Delivery log and login log writers (read by the admin panel's tracking and dashboard)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from store.models import DeliveryLog, LoginEvent
from store.services.messages import _insert  # the services' one raw insert helper


def log_record(*, event: str, **fields: Any) -> DeliveryLog:
    """Record one step of a message's path: received, delivered, queued, relayed, bounced..."""
    return DeliveryLog.objects.create(event=event, **fields)


def log_records(*, rows: Sequence[dict[str, Any]]) -> None:
    """Record many steps at once (one executemany): the SMTP server's received and rejected lines.

    Through the delivery batch's insert helper rather than bulk_create, whose model instances
    and per-call query compilation cost as much CPU as the rest of a delivery batch."""
    _insert(DeliveryLog, list(rows))


def login_record(*, address: str, client_ip: str | None, protocol: str, success: bool) -> None:
    LoginEvent.objects.create(address=address[:320], client_ip=client_ip, protocol=protocol, success=success)
