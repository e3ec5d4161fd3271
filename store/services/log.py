"""Delivery log and login log writers (read by the admin panel's tracking and dashboard)."""

from __future__ import annotations

from typing import Any

from store.models import DeliveryLog, LoginEvent


def log_record(*, event: str, **fields: Any) -> DeliveryLog:
    """Record one step of a message's path: received, delivered, queued, relayed, bounced..."""
    return DeliveryLog.objects.create(event=event, **fields)


def login_record(*, address: str, client_ip: str | None, protocol: str, success: bool) -> None:
    LoginEvent.objects.create(address=address[:320], client_ip=client_ip, protocol=protocol, success=success)
