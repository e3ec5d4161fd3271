"""The DNS resolver every agent uses (dnspython), configured from YUBIN_DNS_RESOLVERS.

YUBIN_DNS_RESOLVERS is `host:port,host:port` (IPv6 as `[::1]:53`; the port defaults to 53);
empty means the system's resolvers from /etc/resolv.conf.
"""

from __future__ import annotations

import dns.nameserver
import dns.resolver
from django.conf import settings

DEFAULT_DNS_PORT = 53

_resolvers: dict[tuple[str, int], dns.resolver.Resolver] = {}


def resolver_addresses(spec: str) -> list[tuple[str, int]]:
    """Parse `host:port,...` into (host, port) pairs."""
    result: list[tuple[str, int]] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else DEFAULT_DNS_PORT
        elif item.count(":") == 1:
            host, port_text = item.split(":")
            port = int(port_text)
        else:
            host, port = item, DEFAULT_DNS_PORT
        result.append((host, port))
    return result


def resolver() -> dns.resolver.Resolver:
    """A resolver for the configured servers (one per configuration and process)."""
    spec = settings.YUBIN_DNS_RESOLVERS
    key = (spec, settings.YUBIN_DNS_TIMEOUT)
    cached = _resolvers.get(key)
    if cached is not None:
        return cached
    addresses = resolver_addresses(spec)
    made = dns.resolver.Resolver(configure=not addresses)
    if addresses:
        made.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in addresses]
    made.lifetime = float(settings.YUBIN_DNS_TIMEOUT)
    made.timeout = min(made.lifetime, 3.0)
    made.cache = dns.resolver.Cache()  # answers kept for their TTL
    _resolvers[key] = made
    return made
