"""Recipient resolution for RCPT with a short memory of found recipients.

Most RCPTs of a busy MX name the same few accounts; resolving them from memory spares a thread
hop and three queries per recipient. Only found recipients are remembered, for
YUBIN_SMTP_RECIPIENT_CACHE_SECONDS: an unknown address is looked up every time, so a new
account, alias or domain receives mail at once. Any save or delete of a Domain, Account or
Alias in this process clears every cache at once; a change made by another process (the admin
panel) is seen within the TTL. The quota usage in a remembered answer may be that old too: the
RCPT quota check is advisory, the check at delivery is exact.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models.signals import m2m_changed, post_delete, post_save

from store.selectors.smtp import RecipientResolution, recipient_resolve

MAX_ENTRIES = 10000

_caches: weakref.WeakSet[RecipientCache] = weakref.WeakSet()


class RecipientCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, RecipientResolution]] = {}
        _caches.add(self)

    def get(self, address: str) -> RecipientResolution | None:
        entry = self._entries.get(address)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(address, None)
            return None
        return entry[1]

    def put(self, address: str, resolution: RecipientResolution) -> None:
        if self.ttl <= 0 or not resolution.local_domain or not resolution.found or resolution.loop:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[address] = (time.monotonic() + self.ttl, resolution)

    def clear(self) -> None:
        self._entries.clear()

    async def resolve(self, address: str) -> RecipientResolution:
        """The resolution from memory when fresh, else from the store (off the event loop)."""
        cached = self.get(address)
        if cached is not None:
            return cached
        resolution = await sync_to_async(recipient_resolve, thread_sensitive=False)(address)
        self.put(address, resolution)
        return resolution


def _directory_changed(sender: Any, **kwargs: Any) -> None:
    for cache in list(_caches):
        cache.clear()


def _connect() -> None:
    from store.models import Account, Alias, Domain

    for model in (Account, Alias, Domain):
        post_save.connect(_directory_changed, sender=model, dispatch_uid=f"smtp-recipients-save-{model.__name__}")
        post_delete.connect(_directory_changed, sender=model, dispatch_uid=f"smtp-recipients-delete-{model.__name__}")
    # Domain administrators read postmaster mail that nobody else takes.
    m2m_changed.connect(_directory_changed, sender=Account.admin_domains.through, dispatch_uid="smtp-recipients-admins")


_connect()
