"""Short-lived bearer tokens the web app issues at login for the webmail's IMAP/SMTP/Sieve sessions."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from store.models import AccessToken, Account

TOKEN_LIFETIME = timedelta(hours=12)


def token_issue(*, account: Account, purpose: str = "webmail", lifetime: timedelta = TOKEN_LIFETIME) -> str:
    """Create a token and return it; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    AccessToken.objects.create(
        account=account,
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        purpose=purpose,
        expires=timezone.now() + lifetime,
    )
    return token


def token_revoke(*, token: str) -> None:
    AccessToken.objects.filter(token_hash=hashlib.sha256(token.encode()).hexdigest()).delete()


def tokens_prune() -> int:
    deleted, _ = AccessToken.objects.filter(expires__lt=timezone.now()).delete()
    return deleted
