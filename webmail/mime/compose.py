"""Building the messages the webmail sends and saves: RFC 5322 + MIME, Japanese-safe.

Text is UTF-8 (quoted-printable or base64, whichever is smaller, so the message is 7-bit clean
for any relay); display names and subjects are RFC 2047 encoded words, attachment names RFC 2231
parameters (`filename*=utf-8''...`). Any CR, LF or NUL in a header field the user typed is refused
(`HeaderInjection`), never stripped silently.
"""

from __future__ import annotations

import email.policy
import mimetypes
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid

import nh3
from django.utils import timezone

# 7-bit transfer encodings for everything, CRLF line ends for the wire and for APPEND.
OUTGOING_POLICY = email.policy.SMTP.clone(cte_type="7bit", max_line_length=78)
MAX_RECIPIENTS = 100  # Postfix's smtpd_recipient_limit is 1000; a person writes to far fewer
_FORBIDDEN_IN_HEADER = re.compile(r"[\r\n\x00]")
_ADDR_SPEC = re.compile(
    r"^[^\s@<>()\[\],;:\\\"\x00-\x1f\x7f]+@[A-Za-z0-9\-.\u0080-\uffff]+\.[A-Za-z0-9\-\u0080-\uffff]+$"
)
COMPOSE_HTML_TAGS = {
    "p", "br", "div", "span", "b", "strong", "i", "em", "u", "s", "ul", "ol", "li", "a",
    "blockquote", "pre", "code", "h1", "h2", "h3", "hr",
}  # fmt: skip


class HeaderInjection(ValueError):
    """A header field the user typed holds a line break or NUL."""


class InvalidAddress(ValueError):
    """A recipient or sender is not an address we can send to."""


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Outgoing:
    from_address: str
    from_name: str = ""
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    text: str = ""
    html: str = ""  # when set, sent as multipart/alternative with `text`
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: list[bytes] = field(default_factory=list)  # original messages attached as message/rfc822
    in_reply_to: str = ""
    references: str = ""


def header_check(name: str, value: str) -> str:
    if _FORBIDDEN_IN_HEADER.search(value):
        raise HeaderInjection(name)
    return value.strip()


def address_check(address: str) -> str:
    address = header_check("address", address)
    if not _ADDR_SPEC.match(address) or len(address) > 254:
        raise InvalidAddress(address)
    return address


def recipients_parse(value: str, *, field_name: str = "to") -> list[Address]:
    """Parse a typed recipient list ("Taro <taro@example.jp>, hanako@example.jp")."""
    header_check(field_name, value)
    if not value.strip():
        return []
    parsed: list[Address] = []
    for name, address in getaddresses([value.replace(";", ",")]):
        if not address and not name:
            continue
        address_check(address)
        local, _, domain = address.rpartition("@")
        parsed.append(Address(display_name=header_check(field_name, name), username=local, domain=domain))
    if len(parsed) > MAX_RECIPIENTS:
        raise InvalidAddress(f"more than {MAX_RECIPIENTS} recipients")
    return parsed


def compose_html_clean(html: str) -> str:
    """The composer's rich text, cleaned before it leaves: formatting tags and http(s)/mailto links."""
    return nh3.clean(
        html,
        tags=COMPOSE_HTML_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        url_relative="deny",
    )


def _guess_type(filename: str, declared: str) -> tuple[str, str]:
    content_type = declared if declared and "/" in declared else ""
    if not content_type or content_type == "application/octet-stream":
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    maintype, _, subtype = content_type.lower().partition("/")
    if not re.fullmatch(r"[a-z0-9.+-]+", maintype) or not re.fullmatch(r"[a-z0-9.+-]+", subtype):
        return "application", "octet-stream"
    return maintype, subtype


def message_build(outgoing: Outgoing, *, hostname: str, draft: bool = False) -> EmailMessage:
    """Build the message; raises HeaderInjection or InvalidAddress on bad user input."""
    message = EmailMessage(policy=OUTGOING_POLICY)
    from_address = address_check(outgoing.from_address)
    local, _, domain = from_address.rpartition("@")
    message["From"] = Address(display_name=header_check("from", outgoing.from_name), username=local, domain=domain)
    for header, value in (("To", outgoing.to), ("Cc", outgoing.cc)):
        addresses = recipients_parse(value, field_name=header.lower())
        if addresses:
            message[header] = addresses
    bcc = recipients_parse(outgoing.bcc, field_name="bcc")
    if bcc and draft:  # a draft keeps Bcc so it reopens intact; the sent copy never carries it
        message["Bcc"] = bcc
    message["Subject"] = header_check("subject", outgoing.subject)
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = make_msgid(domain=hostname)
    if outgoing.in_reply_to:
        message["In-Reply-To"] = header_check("in-reply-to", outgoing.in_reply_to)
    if outgoing.references:
        message["References"] = header_check("references", outgoing.references)
    message["MIME-Version"] = "1.0"
    message["User-Agent"] = "Yubin Webmail"
    text = outgoing.text.replace("\r\n", "\n")
    message.set_content(text, subtype="plain", charset="utf-8")
    if outgoing.html:
        message.add_alternative(compose_html_clean(outgoing.html), subtype="html", charset="utf-8")
    for attachment in outgoing.attachments:
        maintype, subtype = _guess_type(attachment.filename, attachment.content_type)
        filename = header_check("filename", attachment.filename) or "attachment"
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=filename)
    for raw in outgoing.forwarded:
        forwarded = email.message_from_bytes(raw, policy=OUTGOING_POLICY)
        message.add_attachment(forwarded)
    return message


def envelope_recipients(outgoing: Outgoing) -> list[str]:
    """Every address the message goes to: To, Cc and Bcc, each once."""
    seen: dict[str, None] = {}
    for value, name in ((outgoing.to, "to"), (outgoing.cc, "cc"), (outgoing.bcc, "bcc")):
        for address in recipients_parse(value, field_name=name):
            seen.setdefault(address.addr_spec, None)
    return list(seen)


def message_bytes(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=OUTGOING_POLICY)
