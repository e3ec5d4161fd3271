"""Client autoconfiguration documents, all pointing at YUBIN_HOSTNAME and the configured ports.

- Thunderbird autoconfig, clientConfig version 1.1
  (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat);
- Outlook autodiscover POX (the 2006 request schema and the 2006a "outlook" response schema,
  [MS-OXDSCLI] §2.2.3 and §2.2.4);
- Apple configuration profiles with a com.apple.mail.managed payload (.mobileconfig).
Implicit TLS (RFC 8314) comes first wherever a client takes the first server it can use.
"""

from __future__ import annotations

import plistlib
import re
import uuid
import xml.etree.ElementTree as ET  # only builds documents; parsing goes through request_email
from dataclasses import dataclass

from django.conf import settings

AUTODISCOVER_REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
AUTODISCOVER_RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
AUTODISCOVER_OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MAX_AUTODISCOVER_REQUEST_BYTES = 16 * 1024  # the real request is a few hundred bytes
PROFILE_NAMESPACE = uuid.UUID("6f1c1a8e-3a55-4d2a-9d8e-5975b1e0a0f1")
_EMAIL_IN_REQUEST = re.compile(r"<(?:\w+:)?EMailAddress\s*>\s*([^<\s]{3,320})\s*</(?:\w+:)?EMailAddress\s*>")


@dataclass(frozen=True)
class Server:
    protocol: str  # imap | pop3 | smtp
    port: int
    socket_type: str  # SSL | STARTTLS


def servers() -> list[Server]:
    return [
        Server("imap", settings.YUBIN_PORT_IMAPS, "SSL"),
        Server("imap", settings.YUBIN_PORT_IMAP, "STARTTLS"),
        Server("pop3", settings.YUBIN_PORT_POP3S, "SSL"),
        Server("pop3", settings.YUBIN_PORT_POP3, "STARTTLS"),
        Server("smtp", settings.YUBIN_PORT_SUBMISSIONS, "SSL"),
        Server("smtp", settings.YUBIN_PORT_SUBMISSION, "STARTTLS"),
    ]


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def _document(root: ET.Element) -> bytes:
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def thunderbird_config(domain: str) -> bytes:
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domain)
    _text(provider, "domain", domain)
    _text(provider, "displayName", f"{domain} mail")
    _text(provider, "displayShortName", domain)
    for server in servers():
        tag = "outgoingServer" if server.protocol == "smtp" else "incomingServer"
        element = ET.SubElement(provider, tag, type=server.protocol)
        _text(element, "hostname", settings.YUBIN_HOSTNAME)
        _text(element, "port", str(server.port))
        _text(element, "socketType", server.socket_type)
        _text(element, "authentication", "password-cleartext")
        _text(element, "username", "%EMAILADDRESS%")
    return _document(root)


def request_email(body: bytes) -> str | None:
    """The EMailAddress of an autodiscover request, or None for anything else.

    A small pattern instead of an XML parser: the request is tiny and fixed, and refusing
    DOCTYPE declarations outright keeps entity expansion attacks out.
    """
    if len(body) > MAX_AUTODISCOVER_REQUEST_BYTES:
        return None
    text = body.decode("utf-8", "replace")
    if "<!" in text.replace("<![CDATA[", ""):
        return None
    if "Autodiscover" not in text or AUTODISCOVER_REQUEST_NS not in text:
        return None
    found = _EMAIL_IN_REQUEST.search(text)
    return found.group(1) if found else None


def autodiscover_response(address: str) -> bytes:
    root = ET.Element("Autodiscover", xmlns=AUTODISCOVER_RESPONSE_NS)
    response = ET.SubElement(root, "Response", xmlns=AUTODISCOVER_OUTLOOK_NS)
    account = ET.SubElement(response, "Account")
    _text(account, "AccountType", "email")
    _text(account, "Action", "settings")
    kinds = {"imap": "IMAP", "pop3": "POP3", "smtp": "SMTP"}
    # Outlook takes one Protocol element per type: the implicit-TLS one (RFC 8314 §3).
    for server in (s for s in servers() if s.socket_type == "SSL"):
        protocol = ET.SubElement(account, "Protocol")
        _text(protocol, "Type", kinds[server.protocol])
        _text(protocol, "Server", settings.YUBIN_HOSTNAME)
        _text(protocol, "Port", str(server.port))
        _text(protocol, "DomainRequired", "off")
        _text(protocol, "LoginName", address)
        _text(protocol, "SPA", "off")
        _text(protocol, "SSL", "on")
        _text(protocol, "AuthRequired", "on")
        if server.protocol == "smtp":
            _text(protocol, "UsePOPAuth", "on")
            _text(protocol, "SMTPLast", "off")
    return _document(root)


def autodiscover_error(code: int = 600, message: str = "Invalid Request") -> bytes:
    root = ET.Element("Autodiscover", xmlns=AUTODISCOVER_RESPONSE_NS)
    response = ET.SubElement(root, "Response")
    error = ET.SubElement(response, "Error", Id="0", Time="00:00:00.0000000")
    _text(error, "ErrorCode", str(code))
    _text(error, "Message", message)
    ET.SubElement(error, "DebugData")
    return _document(root)


def mobileconfig(*, address: str, display_name: str = "") -> bytes:
    """An unsigned Apple configuration profile for one account (IMAP over TLS, submission over TLS).

    The UUIDs derive from the address, so downloading again replaces the installed profile.
    """
    domain = address.rpartition("@")[2]
    identifier = ".".join(reversed(settings.YUBIN_HOSTNAME.split("."))) + ".mail." + address.replace("@", ".")
    payload = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier + ".account",
        "PayloadUUID": str(uuid.uuid5(PROFILE_NAMESPACE, "account:" + address)).upper(),
        "PayloadDisplayName": address,
        "EmailAccountDescription": address,
        "EmailAccountName": display_name or address,
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAddress": address,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerHostName": settings.YUBIN_HOSTNAME,
        "IncomingMailServerPortNumber": settings.YUBIN_PORT_IMAPS,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerUsername": address,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": settings.YUBIN_HOSTNAME,
        "OutgoingMailServerPortNumber": settings.YUBIN_PORT_SUBMISSIONS,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": address,
        "OutgoingPasswordSameAsIncomingPassword": True,
        "PreventMove": False,
        "PreventAppSheet": False,
        "SMIMEEnabled": False,
        "allowMailDrop": False,
    }
    profile = {
        "PayloadContent": [payload],
        "PayloadDisplayName": f"{domain} mail",
        "PayloadIdentifier": identifier,
        "PayloadRemovalDisallowed": False,
        "PayloadType": "Configuration",
        "PayloadUUID": str(uuid.uuid5(PROFILE_NAMESPACE, "profile:" + address)).upper(),
        "PayloadVersion": 1,
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)
