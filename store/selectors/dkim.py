"""DKIM key selectors: the active signing key of a domain."""

from __future__ import annotations

from store.models import DkimKey


def dkim_key_active(domain: str) -> DkimKey | None:
    return (
        DkimKey.objects.select_related("domain")
        .filter(domain__name=domain.lower(), domain__active=True, active=True)
        .order_by("-created")
        .first()
    )


def dkim_keys(domain: str) -> list[DkimKey]:
    return list(DkimKey.objects.select_related("domain").filter(domain__name=domain.lower()).order_by("-created"))
