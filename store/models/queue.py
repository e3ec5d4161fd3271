"""The outbound queue: rows are the truth, a Celery message only says "look at row N now"."""

from __future__ import annotations

from django.db import models

from store.models.mail import Blob


class QueueState(models.TextChoices):
    QUEUED = "queued", "Queued"
    DEFERRED = "deferred", "Deferred"
    HELD = "held", "Held"
    SENT = "sent", "Sent"
    BOUNCED = "bounced", "Bounced"


class OutboundMessage(models.Model):
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="outbound")
    sender = models.CharField(max_length=320, blank=True)  # "" is the null reverse-path
    message_id = models.CharField(max_length=998, blank=True, default="")
    size = models.BigIntegerField()
    smtputf8 = models.BooleanField(default=False)
    body_8bit = models.BooleanField(default=False)
    dsn_ret = models.CharField(max_length=4, blank=True, default="")  # FULL | HDRS
    dsn_envid = models.CharField(max_length=100, blank=True, default="")
    submitted_by = models.CharField(max_length=320, blank=True, default="")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    held = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    warned = models.BooleanField(default=False)  # delay warning sent

    class Meta:
        ordering = ["-created"]


class OutboundRecipient(models.Model):
    message = models.ForeignKey(OutboundMessage, on_delete=models.CASCADE, related_name="recipients")
    address = models.CharField(max_length=320)
    domain = models.CharField(max_length=253, db_index=True)
    state = models.CharField(max_length=10, choices=QueueState.choices, default=QueueState.QUEUED)
    next_attempt = models.DateTimeField(db_index=True)
    attempts = models.IntegerField(default=0)
    last_reply = models.TextField(blank=True, default="")
    last_host = models.CharField(max_length=255, blank=True, default="")
    dsn_notify = models.CharField(max_length=40, blank=True, default="")  # NEVER or SUCCESS,FAILURE,DELAY
    dsn_orcpt = models.CharField(max_length=500, blank=True, default="")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt"], name="outbound_due")]
