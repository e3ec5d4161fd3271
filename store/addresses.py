"""Mail addresses as the directory keeps them (RFC 5321 §4.1.2, RFC 6531 for UTF-8 local parts).

The domain is stored in lowercase IDNA A-label form; local parts are compared case-insensitively
and stored in lowercase, as Postfix and Dovecot do by default.
"""

from __future__ import annotations

import re

MAX_ADDRESS_LENGTH = 254  # RFC 5321 §4.5.3.1.3 path limit minus the angle brackets
MAX_LOCAL_LENGTH = 64
_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Dot-atom local part; UTF-8 letters are allowed (SMTPUTF8).
_LOCAL_ATOM = re.compile(r"^[^\s\"(),:;<>@\[\\\]\x00-\x1f\x7f]+$")


class AddressError(ValueError):
    """An address or domain that the directory cannot hold."""


def normalize_domain(domain: str) -> str:
    name = domain.strip().lower()
    if not name or name.endswith("."):
        raise AddressError(f"invalid domain: {domain!r}")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise AddressError(f"invalid domain: {domain!r}") from None
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise AddressError(f"invalid domain: {domain!r}")
    if labels[-1].isdigit():
        raise AddressError(f"invalid domain: {domain!r}")
    return name


def normalize_address(address: str) -> str:
    """Return 'local@domain' in the directory's form, or raise AddressError."""
    text = address.strip()
    if text.count("@") != 1:
        raise AddressError(f"invalid address: {address!r}")
    local, domain = text.split("@")
    if not local or len(local.encode()) > MAX_LOCAL_LENGTH or not _LOCAL_ATOM.match(local):
        raise AddressError(f"invalid address: {address!r}")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise AddressError(f"invalid address: {address!r}")
    result = f"{local.lower()}@{normalize_domain(domain)}"
    if len(result) > MAX_ADDRESS_LENGTH:
        raise AddressError(f"address too long: {address!r}")
    return result


def split_address(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain.lower()
