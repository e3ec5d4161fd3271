"""One DNS resolver factory for every agent (SPF/DKIM/DMARC on the MX, MX lookups in the MTA).

YUBIN_DNS_RESOLVERS is a comma-separated list of "address" or "address:port" (IPv6 as
"[addr]:port"); empty means the system's /etc/resolv.conf. Built on dnspython.
"""

from __future__ import annotations

import threading

import dns.exception
import dns.resolver
from django.conf import settings

DNS_LIFETIME_SECONDS = 10.0  # total time for one query, all servers and retries included

_local = threading.local()


class DnsTemporaryError(Exception):
    """A lookup that timed out or had no usable server (SERVFAIL): try again later."""


def resolvers_parse(text: str) -> list[tuple[str, int]]:
    servers: list[tuple[str, int]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.startswith("["):
            address, _, port = item[1:].partition("]:")
            servers.append((address.rstrip("]"), int(port or 53)))
        elif item.count(":") == 1:
            address, port = item.split(":")
            servers.append((address, int(port)))
        else:
            servers.append((item, 53))
    return servers


def resolver_make(configured: str | None = None) -> dns.resolver.Resolver:
    """A fresh dnspython resolver for YUBIN_DNS_RESOLVERS (or `configured`)."""
    servers = resolvers_parse(settings.YUBIN_DNS_RESOLVERS if configured is None else configured)
    if not servers:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [address for address, _ in servers]
        resolver.nameserver_ports = {address: port for address, port in servers}
        resolver.port = servers[0][1]
    resolver.lifetime = DNS_LIFETIME_SECONDS
    resolver.cache = dns.resolver.Cache()
    return resolver


def resolver() -> dns.resolver.Resolver:
    """This thread's resolver (dnspython resolvers are not shared between threads)."""
    current = getattr(_local, "resolver", None)
    key = settings.YUBIN_DNS_RESOLVERS
    if current is None or getattr(_local, "key", None) != key:
        current = resolver_make()
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
