"""MTA-STS (RFC 8461): a domain's published demand for verified TLS to its listed MX hosts.

The `_mta-sts.DOMAIN` TXT record announces a policy (§3.1); the policy itself is fetched over
HTTPS from YUBIN_MTA_STS_URL (§3.2; tests serve it on loopback) and cached for its max_age, and
a cached policy keeps applying when the record or the fetch later fails (§5.1).
Roadmap: TLS-RPT reports (RFC 8460); proactive policy refresh.
"""

from __future__ import annotations

import logging
import ssl
import time
import urllib.request
from dataclasses import dataclass

import dns.exception
from django.conf import settings
from django.core.cache import cache

from agents.dns import resolver
from agents.tls import client_context

log = logging.getLogger(__name__)

MAX_POLICY_BYTES = 64 * 1024  # RFC 8461 §3.2: senders may refuse larger policies
MAX_AGE_LIMIT = 31557600  # RFC 8461 §3.2: at most one year
FETCH_TIMEOUT = 60  # RFC 8461 §3.3 suggests a minute


@dataclass(frozen=True)
class Policy:
    policy_id: str
    mode: str  # enforce | testing | none
    mx_patterns: tuple[str, ...]
    max_age: int

    @property
    def enforced(self) -> bool:
        return self.mode == "enforce"

    def mx_allowed(self, host: str) -> bool:
        """RFC 8461 §4.1: exact match, or `*.example.com` for exactly one more leftmost label."""
        name = host.lower().rstrip(".")
        for pattern in self.mx_patterns:
            if pattern.startswith("*."):
                head, _, rest = name.partition(".")
                if head and rest == pattern[2:]:
                    return True
            elif name == pattern:
                return True
        return False


def parse_policy(text: str, policy_id: str) -> Policy | None:
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), []).append(value.strip())
    if fields.get("version") != ["STSv1"]:
        return None
    mode = (fields.get("mode") or [""])[0]
    if mode not in ("enforce", "testing", "none"):
        return None
    try:
        max_age = min(int((fields.get("max_age") or [""])[0]), MAX_AGE_LIMIT)
    except ValueError:
        return None
    patterns = tuple(p.lower().rstrip(".") for p in fields.get("mx", []) if p)
    if mode != "none" and not patterns:
        return None
    return Policy(policy_id=policy_id, mode=mode, mx_patterns=patterns, max_age=max_age)


def _record_id(domain: str) -> str | None:
    """The id of a `v=STSv1` TXT record (RFC 8461 §3.1), or None when there is none."""
    try:
        answer = resolver().resolve(f"_mta-sts.{domain}", "TXT", search=False)
    except dns.exception.DNSException:
        return None
    records = [b"".join(r.strings).decode("ascii", "replace") for r in answer]  # type: ignore[attr-defined]
    records = [r for r in records if r.startswith("v=STSv1")]
    if len(records) != 1:
        return None
    for part in records[0].split(";"):
        key, _, value = part.strip().partition("=")
        if key == "id" and value:
            return value
    return None


def _fetch(domain: str) -> str | None:
    url = settings.YUBIN_MTA_STS_URL.format(domain=domain)
    context = client_context(verify=True)
    if settings.YUBIN_RELAY_CA_FILE:
        context.load_verify_locations(cafile=settings.YUBIN_RELAY_CA_FILE)
    # RFC 8461 §3.3: redirects are not followed.
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect())
    try:
        with opener.open(url, timeout=FETCH_TIMEOUT) as response:
            if response.status != 200:
                return None
            return response.read(MAX_POLICY_BYTES + 1)[:MAX_POLICY_BYTES].decode("utf-8", "replace")
    except (OSError, ssl.SSLError, ValueError) as exc:
        log.info("MTA-STS policy fetch for %s failed: %s", domain, exc)
        return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


ABSENT_SECONDS = 300  # a domain without a `_mta-sts` record is asked again after this (a typical negative TTL)
_absent_until: dict[str, float] = {}


def policy_cache_clear() -> None:
    _absent_until.clear()


def policy_for(domain: str) -> Policy | None:
    """The policy to apply to a domain now, or None (opportunistic TLS).

    A domain this process found without a `_mta-sts` record and without a cached policy is taken
    to have none for ABSENT_SECONDS, like a negative DNS answer, without reading the cache again:
    most domains publish no policy, and that read was one per message."""
    if _absent_until.get(domain, 0.0) > time.monotonic():
        return None
    cache_key = f"mta-sts:{domain}"
    cached: Policy | None = cache.get(cache_key)
    record_id = _record_id(domain)
    if record_id is None and cached is None:
        _absent_until[domain] = time.monotonic() + ABSENT_SECONDS
    if record_id is None or (cached is not None and cached.policy_id == record_id):
        return cached
    text = _fetch(domain)
    policy = parse_policy(text, record_id) if text is not None else None
    if policy is None:
        return cached
    cache.set(cache_key, policy, timeout=policy.max_age)
    return policy
