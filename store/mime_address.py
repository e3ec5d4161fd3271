"""Tolerant address lists and the IMAP ENVELOPE built from them.

RFC 5322 §3.4 (address, group, angle-addr, obsolete routes §4.4), RFC 3501 §7.4.2 (ENVELOPE:
groups as [NIL NIL name NIL] ... [NIL NIL NIL NIL]; Sender and Reply-To default to From).
Malformed addresses keep what is there and fill gaps with Dovecot's MISSING_MAILBOX /
MISSING_DOMAIN so a real address never looks like a group marker. Never raises.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from store.mime_text import decode_rfc2047, wire_text

MISSING_MAILBOX = "MISSING_MAILBOX"
MISSING_DOMAIN = "MISSING_DOMAIN"

_SCANNER = re.compile(
    r"""(?P<space>[ \t\r\n]+)
      | "(?P<quoted>(?:[^"\\]|\\.)*)(?:"|$)
      | (?P<literal>\[[^\]]*(?:\]|$))
      | (?P<special>[,:;<>@])
      | (?P<atom>[^ \t\r\n"(\[,:;<>@]+)
      | (?P<comment>\()""",
    re.X | re.S,
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)


class Address(NamedTuple):
    """One ENVELOPE address; a group start has host None, a group end is all None."""

    name: str | None
    mailbox: str | None
    host: str | None

    def is_group_marker(self) -> bool:
        return self.host is None


class _Token(NamedTuple):
    kind: str  # "atom", "quoted", "literal", "comment" or the special character itself
    text: str
    spaced: bool  # whitespace preceded it, so phrases rejoin with a space


def _tokenize(value: str) -> list[_Token]:
    tokens: list[_Token] = []
    position, spaced = 0, False
    while position < len(value):
        match = _SCANNER.match(value, position)
        if match is None:  # unreachable in practice: the scanner covers every character
            position += 1
            continue
        kind = match.lastgroup or "atom"
        if kind == "space":
            spaced, position = True, match.end()
            continue
        if kind == "comment":
            text, position = _comment(value, position)
            tokens.append(_Token("comment", text, spaced))
        elif kind == "special":
            tokens.append(_Token(match.group(kind), match.group(kind), spaced))
            position = match.end()
        else:
            text = match.group(kind)
            tokens.append(
                _Token(
                    kind,
                    _QUOTED_PAIR.sub(r"\1", text) if kind == "quoted" else text,
                    spaced,
                )
            )
            position = match.end()
        spaced = False
    return tokens


def _comment(value: str, start: int) -> tuple[str, int]:
    """Scan a nested comment (RFC 5322 §3.2.2) at value[start] == "("; unterminated runs to end."""
    depth, position = 0, start
    while position < len(value):
        char = value[position]
        if char == "\\":
            position += 2
            continue
        depth += (char == "(") - (char == ")")
        position += 1
        if depth == 0:
            return value[start + 1 : position - 1].strip(), position
    return value[start + 1 :].strip(), len(value)


def _join(tokens: list[_Token], spaced: bool) -> str:
    parts: list[str] = []
    for token in tokens:
        if spaced and parts and token.spaced:
            parts.append(" ")
        parts.append(token.text)
    return "".join(parts)


def _addr_spec(tokens: list[_Token]) -> tuple[str, str]:
    at_positions = [index for index, token in enumerate(tokens) if token.kind == "@"]
    if not at_positions:
        return (_join(tokens, spaced=True) or MISSING_MAILBOX), MISSING_DOMAIN
    at = at_positions[-1]
    mailbox = _join(tokens[:at], spaced=False) or MISSING_MAILBOX
    return mailbox, _join(tokens[at + 1 :], spaced=False) or MISSING_DOMAIN


class _ListParser:
    """State machine over tokens: phrase, optional <angle-addr>, "," / group ":" ... ";"."""

    def __init__(self) -> None:
        self.result: list[Address] = []
        self.phrase: list[_Token] = []
        self.angle: list[_Token] | None = None
        self.angle_open = False
        self.in_group = False
        self.last_comment: str | None = None

    def feed(self, token: _Token) -> None:
        if token.kind == "comment":
            self.last_comment = token.text or self.last_comment
        elif self.angle_open and self.angle is not None:
            self._feed_angle(token)
        elif token.kind == "<":
            self.angle, self.angle_open = [], True
        elif token.kind == ",":
            self.finish()
        elif token.kind == ":" and not self.in_group and self.angle is None:
            self.result.append(Address(None, _join(self.phrase, spaced=True), None))
            self.phrase, self.in_group, self.last_comment = [], True, None
        elif token.kind == ";":
            self.finish()
            self.close_group()
        elif token.kind != ">":
            self.phrase.append(token)

    def _feed_angle(self, token: _Token) -> None:
        assert self.angle is not None
        route = bool(self.angle) and self.angle[0].kind == "@"
        if token.kind == ">":
            self.angle_open = False
        elif token.kind == ":" and route:
            self.angle = []  # drop an obsolete source route (RFC 5322 §4.4)
        elif token.kind == "," and not route:
            self.angle_open = False  # "<a@b, c@d>" with ">" missing: end the address here
            self.finish()
        elif token.kind not in ("<", ","):
            self.angle.append(token)

    def finish(self) -> None:
        if self.angle is not None:
            name = _join(self.phrase, spaced=True) or self.last_comment
            if not self.angle and not self.phrase:
                self.result.append(Address(None, "", ""))  # "<>": the null reverse-path
            else:
                self.result.append(Address(name, *_addr_spec(self.angle)))
        elif self.phrase:
            self.result.append(Address(self.last_comment, *_addr_spec(self.phrase)))
        self.phrase, self.angle, self.angle_open, self.last_comment = (
            [],
            None,
            False,
            None,
        )

    def close_group(self) -> None:
        if self.in_group:
            self.result.append(Address(None, None, None))
            self.in_group = False


def parse_addresses(value: str) -> list[Address]:
    """Parse an address-list header value (raw, undecoded) into ENVELOPE addresses."""
    parser = _ListParser()
    for token in _tokenize(value):
        parser.feed(token)
    parser.finish()
    parser.close_group()
    return parser.result


def envelope_addresses(raw_value: bytes | None) -> list[list[str | None]] | None:
    """ENVELOPE form of an address header: [[name, adl, mailbox, host], ...] or None if empty."""
    if raw_value is None:
        return None
    addresses = parse_addresses(wire_text(raw_value))
    return [[name, None, mailbox, host] for name, mailbox, host in addresses] or None


def real_addresses(envelope_list: list[list[str | None]] | None) -> list[Address]:
    """Addresses of an ENVELOPE list without the group markers."""
    return [Address(item[0], item[2], item[3]) for item in envelope_list or () if item[3] is not None]


def address_display(envelope_list: list[list[str | None]] | None) -> str:
    """Human form "Name <box@host>, group: a@b;" with RFC 2047 names decoded."""
    out: list[str] = []
    group: list[str] | None = None
    group_name = ""
    for name, _, mailbox, host in envelope_list or ():
        if host is None and mailbox is not None:
            group, group_name = [], decode_rfc2047(mailbox)
            continue
        if host is None:
            if group is not None:
                out.append(_group_display(group_name, group))
            group = None
            continue
        spec = f"{mailbox}@{host}" if host and host != MISSING_DOMAIN else (mailbox or "")
        text = f"{decode_rfc2047(name)} <{spec}>" if name else spec
        (out if group is None else group).append(text)
    if group is not None:
        out.append(_group_display(group_name, group))
    return ", ".join(out)


def _group_display(name: str, members: list[str]) -> str:
    return f"{name}: {', '.join(members)};" if members else f"{name}:;"


def mailbox_sort_key(envelope_list: list[list[str | None]] | None) -> str:
    """RFC 5256 §3 SORT FROM/TO/CC key: addr-mailbox of the first address, lowercased."""
    addresses = real_addresses(envelope_list)
    return (addresses[0].mailbox or "").lower() if addresses else ""


def display_sort_key(envelope_list: list[list[str | None]] | None) -> str:
    """RFC 5957 §3 DISPLAYFROM/DISPLAYTO key: decoded display name, else addr-spec; casefolded."""
    addresses = real_addresses(envelope_list)
    if not addresses:
        return ""
    first = addresses[0]
    display = decode_rfc2047(first.name).strip() if first.name else ""
    spec = f"{first.mailbox}@{first.host}" if first.mailbox else ""
    return (display or spec).casefold()


def build_envelope(headers: dict[str, bytes]) -> list:
    """RFC 3501 §7.4.2 ENVELOPE from a lowercased header map, as JSON-able nested lists.

    Strings are the raw unfolded values (RFC 2047 words left encoded); absent fields are None.
    """

    def raw(name: str) -> str | None:
        value = headers.get(name)
        return None if value is None else wire_text(value)

    sender_from = envelope_addresses(headers.get("from"))
    sender = envelope_addresses(headers.get("sender")) or sender_from
    reply_to = envelope_addresses(headers.get("reply-to")) or sender_from
    return [
        raw("date"),
        raw("subject"),
        sender_from,
        sender,
        reply_to,
        envelope_addresses(headers.get("to")),
        envelope_addresses(headers.get("cc")),
        envelope_addresses(headers.get("bcc")),
        raw("in-reply-to"),
        raw("message-id"),
    ]
