"""Reading and saving preferences and contacts (the webmail's own tables)."""

from __future__ import annotations

import zoneinfo

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from webmail.models import Contact, Preferences

PAGE_SIZES = (20, 50, 100, 200)
MAX_TRUSTED_SENDERS = 1000
AUTOCOMPLETE_LIMIT = 10


def preferences_for(address: str) -> Preferences:
    prefs = Preferences.objects.filter(address=address).first()
    return prefs if prefs is not None else Preferences(address=address)


def preferences_save(prefs: Preferences) -> None:
    if prefs.time_zone not in zoneinfo.available_timezones():
        prefs.time_zone = "UTC"
    if prefs.page_size not in PAGE_SIZES:
        prefs.page_size = 50
    prefs.save()


def remote_content_trust(address: str, sender: str) -> None:
    prefs = preferences_for(address)
    senders = [s for s in prefs.remote_content_senders if s != sender.lower()]
    prefs.remote_content_senders = [sender.lower(), *senders][:MAX_TRUSTED_SENDERS]
    preferences_save(prefs)


def contacts_record(owner: str, people: list[tuple[str, str]]) -> None:
    """Count (name, address) pairs as used; names update to the latest seen."""
    for name, address in people:
        address = address.strip().lower()
        if not address or "@" not in address or len(address) > 320:
            continue
        with transaction.atomic():
            updated = Contact.objects.filter(owner=owner, address=address).update(uses=F("uses") + 1)
            if not updated:
                try:
                    with transaction.atomic():
                        Contact.objects.create(owner=owner, address=address, name=name[:200], uses=1)
                except IntegrityError:
                    pass
            elif name:
                Contact.objects.filter(owner=owner, address=address).update(name=name[:200])


def contacts_complete(owner: str, prefix: str) -> list[Contact]:
    prefix = prefix.strip()
    if not prefix:
        return []
    return list(
        Contact.objects.filter(owner=owner)
        .filter(Q(address__istartswith=prefix) | Q(name__icontains=prefix))
        .order_by("-uses", "-last_used")[:AUTOCOMPLETE_LIMIT]
    )
