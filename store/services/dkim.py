"""DKIM keys (RFC 6376 §3.6.1, RFC 8463): made per domain, the private half kept in the store.

RSA keys are 2048 bits by default (rsa-sha256); ed25519 keys (ed25519-sha256, RFC 8463) keep the
32-byte seed base64-encoded, as dkimpy signs with it.
"""

from __future__ import annotations

import base64

from django.db import transaction
from django.utils import timezone

from store.addresses import normalize_domain
from store.errors import InvalidName, NotFound
from store.models import DkimKey, Domain

RSA_BITS_DEFAULT = 2048  # RFC 8301 §3.2: at least 1024, 2048 recommended
ALGORITHMS = ("rsa", "ed25519")


def _rsa_key(bits: int) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, base64.b64encode(public_der).decode()


def _ed25519_key() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(seed).decode(), base64.b64encode(public).decode()


def dkim_selector_default(domain: Domain) -> str:
    """`yYYYYMM`, with a letter added when this month's selector is taken (key rotation)."""
    base = "y" + timezone.now().strftime("%Y%m")
    taken = set(DkimKey.objects.filter(domain=domain).values_list("selector", flat=True))
    if base not in taken:
        return base
    for suffix in "bcdefghijklmnopqrstuvwxyz":
        if base + suffix not in taken:
            return base + suffix
    raise InvalidName("no free DKIM selector this month")


def dkim_key_generate(
    *, domain: str, algorithm: str = "rsa", selector: str = "", bits: int = RSA_BITS_DEFAULT
) -> DkimKey:
    """Make a new signing key for a local domain; it becomes the active one (older keys stay for lookups)."""
    if algorithm not in ALGORITHMS:
        raise InvalidName(f"unknown DKIM algorithm {algorithm!r}: use rsa or ed25519")
    if algorithm == "rsa" and bits < 1024:
        raise InvalidName("RSA DKIM keys need at least 1024 bits (RFC 8301)")
    name = normalize_domain(domain)
    with transaction.atomic():
        domain_row = Domain.objects.select_for_update().filter(name=name).first()
        if domain_row is None:
            raise NotFound(f"no such domain: {name}")
        chosen = selector.strip().lower() or dkim_selector_default(domain_row)
        if not chosen.replace("-", "").replace(".", "").isalnum():
            raise InvalidName(f"invalid DKIM selector: {selector!r}")
        if DkimKey.objects.filter(domain=domain_row, selector=chosen).exists():
            raise InvalidName(f"selector {chosen} already exists for {name}")
        private, public = _rsa_key(bits) if algorithm == "rsa" else _ed25519_key()
        DkimKey.objects.filter(domain=domain_row).update(active=False)
        return DkimKey.objects.create(
            domain=domain_row,
            selector=chosen,
            algorithm=algorithm,
            private_key=private,
            public_record=f"v=DKIM1; k={algorithm}; p={public}",
            active=True,
        )


def dkim_zone_line(key: DkimKey) -> str:
    """The record to publish as one zone-file line; TXT strings are cut at 255 bytes (RFC 1035 §3.3)."""
    record = key.public_record
    chunks = " ".join(f'"{record[i : i + 255]}"' for i in range(0, len(record), 255))
    return f"{key.selector}._domainkey.{key.domain.name}. IN TXT {chunks}"
