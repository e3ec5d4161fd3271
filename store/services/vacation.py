"""Vacation memory (RFC 5230 §4.2): one auto-reply per sender and handle per period."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from store.models import VacationReply


def vacation_reply_claim(*, account_id: int, sender: str, handle: str, days: int) -> bool:
    """True when no reply went to this sender within `days` (and remember this one); else False."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            VacationReply.objects.select_for_update()
            .filter(account_id=account_id, sender=sender, handle=handle)
            .first()
        )
        if row is not None and row.sent > now - timedelta(days=days):
            return False
        if row is None:
            VacationReply.objects.create(account_id=account_id, sender=sender, handle=handle, sent=now)
        else:
            row.sent = now
            row.save(update_fields=["sent"])
    return True
