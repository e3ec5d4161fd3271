"""The admin panel's own data: the audit log of every administrator action."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """Who did what, when, from where. Kept when the actor or the target is removed."""

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_address = models.CharField(max_length=320, db_index=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=40, db_index=True)  # e.g. domain.create, account.password
    target = models.CharField(max_length=1000, blank=True, default="")
    domain = models.CharField(max_length=253, blank=True, default="", db_index=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.actor_address} {self.action} {self.target}"
