"""One DNS resolver factory for every agent (SPF/DKIM/DMARC on the MX, MX and MTA-STS in the MTA).

YUBIN_DNS_RESOLVERS is `host:port,host:port` (IPv6 as `[::1]:53`; the port defaults to 53);
empty means the system's resolvers from /etc/resolv.conf. Built on dnspython; each thread has
its own resolver (dnspython resolvers are not meant to be shared between threads), and answers
are cached for their TTL.
"""

from __future__ import annotations

import threading

import dns.exception
import dns.nameserver
import dns.resolver
from django.conf import settings

DEFAULT_DNS_PORT = 53
PER_SERVER_TIMEOUT_SECONDS = 3.0

_local = threading.local()


class DnsTemporaryError(Exception):
    """A lookup that timed out or had no usable server (SERVFAIL): try again later."""


def resolvers_parse(spec: str) -> list[tuple[str, int]]:
    """Parse `host:port,...` into (host, port) pairs."""
    result: list[tuple[str, int]] = []
    for item in (part.strip() for part in spec.split(",")):
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


def resolver_make(spec: str | None = None, lifetime: float | None = None) -> dns.resolver.Resolver:
    """A fresh resolver for `spec` (default YUBIN_DNS_RESOLVERS), not shared with other callers."""
    spec = settings.YUBIN_DNS_RESOLVERS if spec is None else spec
    lifetime = float(settings.YUBIN_DNS_TIMEOUT) if lifetime is None else lifetime
    addresses = resolvers_parse(spec)
    made = dns.resolver.Resolver(configure=not addresses)
    if addresses:
        made.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in addresses]
    made.lifetime = lifetime
    made.timeout = min(lifetime, PER_SERVER_TIMEOUT_SECONDS)
    made.cache = dns.resolver.Cache()
    return made


def resolver() -> dns.resolver.Resolver:
    """This thread's resolver for the configured servers."""
    key = (settings.YUBIN_DNS_RESOLVERS, float(settings.YUBIN_DNS_TIMEOUT))
    current = getattr(_local, "resolver", None)
    if current is None or getattr(_local, "key", None) != key:
        current = resolver_make(*key)
        _local.resolver, _local.key = current, key
    return current


def txt_lookup(name: str) -> list[bytes]:
    """TXT strings of a name, each record's strings joined; [] when the name or type is absent."""
    try:
        answer = resolver().resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
        raise DnsTemporaryError(str(error)) from None
    return [b"".join(record.strings) for record in answer]
