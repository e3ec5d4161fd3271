"""Logs the admin panel reads: delivery log (message tracking), logins, and change events."""

from __future__ import annotations

from django.db import models


class LogEvent(models.TextChoices):
    RECEIVED = "received", "Received"
    REJECTED = "rejected", "Rejected"
    DELIVERED = "delivered", "Delivered into folder"
    QUEUED = "queued", "Queued for relay"
    RELAYED = "relayed", "Relayed"
    DEFERRED = "deferred", "Deferred"
    BOUNCED = "bounced", "Bounced"
    DISCARDED = "discarded", "Discarded"
    REDIRECTED = "redirected", "Redirected"


class DeliveryLog(models.Model):
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    event = models.CharField(max_length=12, choices=LogEvent.choices, db_index=True)
    queue_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    message_id = models.CharField(max_length=998, blank=True, default="", db_index=True)
    # Not indexed: the admin panel looks them up by substring and by domain suffix (icontains,
    # iendswith), which no B-tree serves, and every delivery would pay for the index pages.
    sender = models.CharField(max_length=320, blank=True, default="")
    recipient = models.CharField(max_length=320, blank=True, default="")
    folder = models.CharField(max_length=1000, blank=True, default="")
    rule = models.CharField(max_length=200, blank=True, default="")
    remote_host = models.CharField(max_length=255, blank=True, default="")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    reply = models.TextField(blank=True, default="")
    tls = models.BooleanField(default=False)
    size = models.BigIntegerField(default=0)
    detail = models.JSONField(default=dict, blank=True)  # e.g. {"spf": "pass", "dkim": ..., "dmarc": ...}

    class Meta:
        ordering = ["-created", "-id"]


class LoginEvent(models.Model):
    """Authentication results of every protocol, for the dashboard's failed logins."""

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    address = models.CharField(max_length=320, db_index=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    protocol = models.CharField(max_length=12)  # smtp, imap, pop3, sieve, web
    success = models.BooleanField()

    class Meta:
        ordering = ["-created"]


class ChangeEvent(models.Model):
    """One row per store change, read by other processes (SQLite poll; PostgreSQL adds NOTIFY)."""

    account_id = models.BigIntegerField()
    folder_id = models.BigIntegerField(null=True)
    kind = models.CharField(max_length=16)  # deliver, append, flags, expunge, folder
    modseq = models.BigIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
