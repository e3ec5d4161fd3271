"""TLS for every listener: the certificate (self-signed on first start unless configured) and contexts.

Server contexts follow Mozilla's "intermediate" profile: TLS 1.2 and 1.3 only.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import os
import ssl
from pathlib import Path

from django.conf import settings

CERTIFICATE_DAYS = 825


def certificate_ensure(
    *, hostname: str | None = None, cert_path: str | None = None, key_path: str | None = None
) -> tuple[Path, Path]:
    """Make a self-signed certificate for the host name when none exists yet; return the paths."""
    cert = Path(cert_path or settings.YUBIN_TLS_CERT)
    key = Path(key_path or settings.YUBIN_TLS_KEY)
    if cert.exists() and key.exists():  # both are renamed into place whole, the certificate last
        return cert, key
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    # Processes starting together (the web app, agents, tests' servers) make one pair between them.
    with open(cert.with_name(cert.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cert.exists() and key.exists():
            return cert, key
        return _certificate_make(cert, key, hostname or settings.YUBIN_HOSTNAME)


def _certificate_make(cert: Path, key: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    alt_names: list[x509.GeneralName] = [x509.DNSName(name), x509.DNSName("localhost")]
    alt_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    key_bytes = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_whole(key, key_bytes, 0o600)
    _write_whole(cert, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key


def _write_whole(path: Path, data: bytes, mode: int) -> None:
    """A reader sees no file or all of it: written under a temporary name, then renamed."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


_server_context: ssl.SSLContext | None = None


def server_context() -> ssl.SSLContext:
    """The listeners' TLS context (made once per process)."""
    global _server_context
    if _server_context is None:
        cert, key = certificate_ensure()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
        context.load_cert_chain(str(cert), str(key))
        _server_context = context
    return _server_context


def client_context(*, verify: bool) -> ssl.SSLContext:
    """A client context: verifying (MTA-STS, smarthost) or opportunistic (plain STARTTLS to an MX)."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
