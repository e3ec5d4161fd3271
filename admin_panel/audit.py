"""The audit log writer: one entry per administrator action (who, what, when, from where)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from admin_panel.models import AuditEntry
from store.models import Account


def client_ip_of(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: a forwarded-for header is whatever the client wants it to be unless a
    # trusted proxy sets it, and the panel does not know which proxies are trusted.
    return request.META.get("REMOTE_ADDR") or None


def audit_record(request: HttpRequest, *, action: str, target: str = "", domain: str = "", **detail: Any) -> AuditEntry:
    actor = request.user if isinstance(request.user, Account) else None
    return AuditEntry.objects.create(
        actor=actor,
        actor_address=actor.address if actor else "",
        client_ip=client_ip_of(request),
        action=action,
        target=target[:1000],
        domain=domain,
        detail=detail,
    )
