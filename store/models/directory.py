"""The directory: domains, accounts (the custom user model), aliases, DKIM keys, tokens."""

from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models


class Role(models.TextChoices):
    USER = "user", "User"
    DOMAIN_ADMIN = "domainadmin", "Domain administrator"
    SUPERADMIN = "superadmin", "Superadministrator"


class Domain(models.Model):
    name = models.CharField(max_length=253, unique=True)  # lowercase IDNA (A-label) form
    active = models.BooleanField(default=True)
    default_quota = models.BigIntegerField(default=0, help_text="bytes; 0 = site default")
    max_accounts = models.IntegerField(default=0, help_text="0 = no limit")
    max_message_size = models.BigIntegerField(default=0, help_text="bytes; 0 = site limit")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AccountManager(BaseUserManager["Account"]):
    def get_by_natural_key(self, username: str | None) -> Account:
        return self.get(address__iexact=username or "")


class Account(AbstractBaseUser):
    """A mailbox owner. The address is the user name; passwords are Argon2 hashes."""

    address = models.CharField(max_length=320, unique=True)  # local@domain, domain lowercase
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="accounts")
    display_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    admin_domains = models.ManyToManyField(Domain, blank=True, related_name="admins")
    is_active = models.BooleanField(default=True)
    quota = models.BigIntegerField(default=0, help_text="bytes; 0 = unlimited")
    used_bytes = models.BigIntegerField(default=0)
    source = models.CharField(max_length=8, default="db", choices=[("db", "Database"), ("ldap", "LDAP")])
    last_sync = models.DateTimeField(null=True, blank=True)
    password_changed = models.DateTimeField(null=True, blank=True)
    settings = models.JSONField(default=dict, blank=True)  # webmail preferences
    created = models.DateTimeField(auto_now_add=True)

    USERNAME_FIELD = "address"
    EMAIL_FIELD = "address"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = AccountManager()

    class Meta:
        ordering = ["address"]

    def __str__(self) -> str:
        return self.address

    @property
    def is_superadmin(self) -> bool:
        return self.role == Role.SUPERADMIN

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.SUPERADMIN, Role.DOMAIN_ADMIN)


class Alias(models.Model):
    """One source address (or '@domain' catch-all) to one or more destinations."""

    source = models.CharField(max_length=320, unique=True)
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="aliases")
    destinations = models.JSONField(default=list)  # list of addresses, local or external
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source"]

    def __str__(self) -> str:
        return f"{self.source} -> {', '.join(self.destinations)}"


class DkimKey(models.Model):
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="dkim_keys")
    selector = models.CharField(max_length=63)
    algorithm = models.CharField(max_length=16, default="rsa")  # rsa | ed25519
    private_key = models.TextField()  # PEM (rsa) or base64 seed (ed25519)
    public_record = models.TextField()  # the TXT record value to publish
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        unique_together = [("domain", "selector")]
        ordering = ["domain", "-created"]


class AccessToken(models.Model):
    """Short-lived bearer tokens (OAUTHBEARER for the webmail's IMAP, SMTP and ManageSieve)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)  # sha256 hex; the token itself is never stored
    purpose = models.CharField(max_length=16, default="webmail")
    expires = models.DateTimeField(db_index=True)
    created = models.DateTimeField(auto_now_add=True)
