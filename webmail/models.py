"""The webmail's own data: per-user preferences and the address book of correspondents.

Mail itself lives behind IMAP; these rows are what a desktop client would keep in its profile.
Rows are keyed by the account's address (the login name), not a foreign key into the store.
"""

from __future__ import annotations

from django.db import models


class Preferences(models.Model):
    address = models.CharField(max_length=320, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    signature = models.TextField(blank=True)
    language = models.CharField(max_length=8, default="en")
    time_zone = models.CharField(max_length=64, default="UTC")
    page_size = models.PositiveSmallIntegerField(default=50)
    threads = models.BooleanField(default=False)
    compose_html = models.BooleanField(default=False)
    remote_content_senders = models.JSONField(default=list, blank=True)  # always show remote images
    updated = models.DateTimeField(auto_now=True)


class Contact(models.Model):
    """Someone the user wrote to or received mail from, for address autocomplete."""

    owner = models.CharField(max_length=320, db_index=True)
    address = models.CharField(max_length=320)
    name = models.CharField(max_length=200, blank=True)
    uses = models.PositiveIntegerField(default=0)
    last_used = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "address"], name="webmail_contact_unique")]
