"""Delivery-side memory: which senders a vacation auto-reply already answered (RFC 5230 §4.2)."""

from __future__ import annotations

from django.db import models

from store.models.directory import Account


class VacationReply(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="vacation_replies")
    sender = models.CharField(max_length=320)
    handle = models.CharField(max_length=200)  # RFC 5230 §4.2 :handle, or a hash of the reason
    sent = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "sender", "handle"], name="vacation_account_sender_handle")
        ]
