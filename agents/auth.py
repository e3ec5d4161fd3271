"""The one authentication path of every protocol (DESIGN rule 6).

`credentials_check` wraps django.contrib.auth.authenticate() with:
- the shared failure throttle (agents.throttle), per client address and per account, kept in
  Django's cache so SMTP, IMAP, POP3, ManageSieve and the web login count together;
- a short-lived verified-credential cache like Dovecot's auth_cache, so a client that logs in
  and out every minute does not pay an Argon2 hash each time. An entry is only trusted while the
  account's stored password hash is still the one it was verified against, so changing the
  password invalidates it at once.
`token_check` verifies the webmail's short-lived bearer tokens (OAUTHBEARER).
Call these from a thread (asgiref's sync_to_async), never on the event loop.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.utils import timezone

from agents.throttle import throttle_blocked, throttle_failure, throttle_success
from store.models import AccessToken, Account
from store.services.log import login_record

CREDENTIAL_CACHE_SECONDS = 60  # Dovecot's auth_cache_ttl default is 1 hour; we keep it short
CREDENTIAL_CACHE_MAX_ENTRIES = 10_000


class Throttled(Exception):
    """Too many recent failures from this address or for this account."""


_cache_lock = threading.Lock()
_verified: dict[bytes, tuple[float, int, str]] = {}  # key -> (expiry, account id, password hash)


def _cache_key(address: str, password: str) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), f"{address.lower()}\0{password}".encode(), hashlib.sha256).digest()


def _cached_account(key: bytes) -> Account | None:
    with _cache_lock:
        entry = _verified.get(key)
    if entry is None or entry[0] < time.monotonic():
        return None
    account = Account.objects.select_related("domain").filter(pk=entry[1]).first()
    if account is None or account.password != entry[2] or not account.is_active or not account.domain.active:
        with _cache_lock:
            _verified.pop(key, None)
        return None
    return account


def _remember(key: bytes, account: Account) -> None:
    with _cache_lock:
        if len(_verified) >= CREDENTIAL_CACHE_MAX_ENTRIES:
            _verified.clear()
        _verified[key] = (time.monotonic() + CREDENTIAL_CACHE_SECONDS, account.pk, account.password)


def credentials_check(*, address: str, password: str, protocol: str, client_ip: str | None) -> Account | None:
    """Return the account when address and password are right; None when wrong.

    Raises Throttled when this client address or account has failed too often lately.
    """
    if throttle_blocked(address=address, client_ip=client_ip):
        raise Throttled("too many authentication failures; try again later")
    key = _cache_key(address, password)
    account = _cached_account(key)
    if account is None:
        user = authenticate(None, username=address, password=password)
        account = user if isinstance(user, Account) else None
        if account is not None and account.source == "db":
            _remember(key, account)
    if account is None:
        throttle_failure(address=address, client_ip=client_ip)
        login_record(address=address, client_ip=client_ip, protocol=protocol, success=False)
        return None
    throttle_success(address=account.address, client_ip=client_ip)
    return account


def session_backend(account: Account) -> str:
    """The backend a web login records in the session: the one that verified the password, or the
    database backend (which also loads LDAP accounts by id) when the credential cache answered."""
    return str(getattr(account, "backend", "store.auth.AccountBackend"))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_check(*, token: str, address: str | None, protocol: str, client_ip: str | None) -> Account | None:
    """Verify a bearer token issued by store.services.tokens; the address must match when given."""
    if throttle_blocked(address=address or "", client_ip=client_ip):
        raise Throttled("too many authentication failures; try again later")
    row = (
        AccessToken.objects.select_related("account", "account__domain")
        .filter(token_hash=token_hash(token), expires__gt=timezone.now())
        .first()
    )
    account = row.account if row is not None else None
    if account is not None and address and account.address != address.lower():
        account = None
    if account is None or not account.is_active or not account.domain.active:
        throttle_failure(address=address or "", client_ip=client_ip)
        login_record(address=address or "(token)", client_ip=client_ip, protocol=protocol, success=False)
        return None
    return account
