"""Where mail for a domain goes: MX lookup (RFC 5321 §5.1) and null MX (RFC 7505).

- MX records by preference, random order among equal preferences (§5.1 "randomize").
- No MX record: the domain itself is the implicit MX (its A/AAAA records).
- A null MX (one record, preference 0, exchange ".") means the domain accepts no mail:
  a permanent failure, 556 5.1.10 (RFC 7505 §4.2).
- NXDOMAIN: permanent failure. SERVFAIL, timeouts, no reachable server: temporary.

A domain's hosts are kept per process until the first of the answers behind them expires (their
TTLs): a relay sending to one domain all day asks the resolver, even its cache, once per TTL and
not once per message. Equal preferences are shuffled again on each use; failures are not kept.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
from django.conf import settings

from agents.dns import resolver


class RouteError(Exception):
    """No route to a domain now; `permanent` says whether to bounce or retry."""

    def __init__(self, reply: str, *, permanent: bool) -> None:
        super().__init__(reply)
        self.reply = reply
        self.permanent = permanent


@dataclass(frozen=True)
class MxHost:
    name: str  # without the trailing dot
    preference: int
    addresses: tuple[str, ...]


_resolved: dict[str, tuple[float, list[MxHost]]] = {}  # domain -> (expires, hosts)
_lookup = threading.local()  # .expires: the earliest expiry of the answers of the lookup running


def _query(name: str, rdtype: str) -> list[object] | None:
    """Records of one type; None when the name exists without them. Raises RouteError otherwise."""
    try:
        answer = resolver().resolve(name, rdtype, search=False)
        _lookup.expires = min(getattr(_lookup, "expires", 0.0), answer.expiration)
    except dns.resolver.NXDOMAIN:
        raise RouteError(
            f"550 5.1.2 Host or domain name not found. Name service error for name={name} type={rdtype}: "
            "Host not found",
            permanent=True,
        ) from None
    except dns.resolver.NoAnswer:
        return None
    except (dns.resolver.NoNameservers, dns.exception.Timeout, dns.resolver.LifetimeTimeout) as exc:
        raise RouteError(
            f"451 4.4.3 Name service error for name={name} type={rdtype}: {type(exc).__name__}", permanent=False
        ) from None
    except dns.exception.DNSException as exc:
        raise RouteError(
            f"451 4.4.3 Name service error for name={name} type={rdtype}: {exc}", permanent=False
        ) from None
    return list(answer)


def mx_names(domain: str) -> list[tuple[str, int]]:
    """The domain's mail exchangers as (host, preference), in the order to try them."""
    records = _query(domain, "MX")
    if records is None:
        return [(domain, 0)]  # implicit MX, RFC 5321 §5.1
    exchanges = [(str(r.exchange).rstrip(".").lower(), int(r.preference)) for r in records]  # type: ignore[attr-defined]
    if any(name == "" for name, _ in exchanges):
        if len(exchanges) == 1:
            raise RouteError(f"556 5.1.10 Domain {domain} does not accept mail (null MX)", permanent=True)
        exchanges = [(name, preference) for name, preference in exchanges if name]
    random.shuffle(exchanges)
    exchanges.sort(key=lambda item: item[1])  # stable sort keeps the shuffle among equals
    return exchanges


def host_addresses(host: str) -> tuple[str, ...]:
    """IPv4 then IPv6 addresses of a host; raises RouteError when the name does not exist."""
    addresses: list[str] = []
    for rdtype in ("A", "AAAA"):
        records = _query(host, rdtype)
        addresses.extend(str(r) for r in records or [])
    return tuple(addresses)


def mx_resolve(domain: str) -> list[MxHost]:
    """The hosts to try for a domain, each with its addresses; raises RouteError when there are none."""
    kept = _resolved.get(domain)
    if kept is not None and kept[0] > time.time():
        hosts = list(kept[1])
        random.shuffle(hosts)
        hosts.sort(key=lambda host: host.preference)  # stable: shuffled among equal preferences
        return hosts
    _lookup.expires = float("inf")
    hosts = _mx_resolve(domain)
    if _lookup.expires > time.time():
        _resolved[domain] = (_lookup.expires, hosts)
    return hosts


def _mx_resolve(domain: str) -> list[MxHost]:
    names = mx_names(domain)
    local_name = settings.YUBIN_HOSTNAME.lower().rstrip(".")
    hosts: list[MxHost] = []
    temporary: RouteError | None = None
    for name, preference in names:
        if name == local_name:
            # RFC 5321 §5.1: drop this host and every less preferred one; mail loops back otherwise.
            break
        try:
            addresses = host_addresses(name)
        except RouteError as exc:
            if not exc.permanent:
                temporary = exc
            continue
        if addresses:
            hosts.append(MxHost(name=name, preference=preference, addresses=addresses))
    if hosts:
        return hosts
    if temporary is not None:
        raise temporary
    if names and names[0][0] == local_name:
        raise RouteError(f"550 5.4.6 Mail for {domain} loops back to myself", permanent=True)
    raise RouteError(f"550 5.4.4 No address for any mail exchanger of {domain}", permanent=True)
