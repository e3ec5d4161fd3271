"""The shared authentication-failure throttle, kept in Django's cache (shared across processes).

Like Dovecot's auth penalty and Postfix's anvil: failures are counted per client address and per
account over a sliding window; past the limit, further attempts are refused without checking the
password until the window passes. Loopback is not exempt.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache

FAILURE_WINDOW_SECONDS = 300
MAX_FAILURES_PER_ADDRESS = 20  # per client IP address within the window
MAX_FAILURES_PER_ACCOUNT = 10  # per account name within the window


def _key(kind: str, value: str) -> str:
    return f"yubin:authfail:{kind}:{hashlib.sha256(value.lower().encode()).hexdigest()[:32]}"


def _count(key: str) -> int:
    value = cache.get(key)
    return int(value) if value else 0


def throttle_blocked(*, address: str, client_ip: str | None) -> bool:
    if client_ip and _count(_key("ip", client_ip)) >= MAX_FAILURES_PER_ADDRESS:
        return True
    return bool(address) and _count(_key("acct", address)) >= MAX_FAILURES_PER_ACCOUNT


def _bump(key: str) -> None:
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, FAILURE_WINDOW_SECONDS)


def throttle_failure(*, address: str, client_ip: str | None) -> None:
    if client_ip:
        _bump(_key("ip", client_ip))
    if address:
        _bump(_key("acct", address))


def throttle_success(*, address: str, client_ip: str | None) -> None:
    """A success clears the account's count (not the address's: a botnet hit may share an IP)."""
    cache.delete(_key("acct", address))


def throttle_reset(*, address: str = "", client_ip: str | None = None) -> None:
    if address:
        cache.delete(_key("acct", address))
    if client_ip:
        cache.delete(_key("ip", client_ip))
