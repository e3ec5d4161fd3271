"""Client address policy shared by the mail-access servers: loopback and plaintext passwords.

DESIGN rule 7: no plaintext password before TLS, except from loopback when
YUBIN_ALLOW_PLAINTEXT_LOOPBACK is set (RFC 2595 §2.2, RFC 5804 §2.1).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def is_loopback(client_ip: str | None) -> bool:
    if not client_ip:
        return False
    try:
        address = ipaddress.ip_address(client_ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def plaintext_password_allowed(*, tls_active: bool, client_ip: str | None) -> bool:
    return tls_active or (settings.YUBIN_ALLOW_PLAINTEXT_LOOPBACK and is_loopback(client_ip))
