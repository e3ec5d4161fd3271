"""SMTP paths and their parameters (RFC 5321 §4.1.2, §3.3; SMTPUTF8 RFC 6531; DSN RFC 3461).

`path_parse` is strict on purpose: the classic open-relay tricks (source routes, percent hack,
bang paths, quoted local parts with "@", IP literals, trailing dots) are refused as syntax here
or recognised as non-local by the handler, never forwarded on a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PATH_LENGTH = 256  # RFC 5321 §4.5.3.1.3 (including the angle brackets)
MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
MAX_DOMAIN = 255  # RFC 5321 §4.5.3.1.2

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = re.compile(rf"^{_ATEXT}+(?:\.{_ATEXT}+)*$")
_DOT_ATOM_UTF8 = re.compile(
    r"^(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\x00-\x7f])+(?:\.(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\x00-\x7f])+)*$"
)
_QUOTED = re.compile(r'^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*)"$')
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_PARAM_KEYWORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_XTEXT_CHAR = re.compile(r"^[\x21-\x2a\x2c-\x3c\x3e-\x7e]*$")


class PathError(ValueError):
    """A reverse-path or forward-path that is not valid SMTP syntax."""


@dataclass(frozen=True)
class Path:
    local: str  # as written, quotes removed
    domain: str  # lowercase, A-label when possible; "" only for the null path
    is_literal: bool = False  # domain is an address literal [1.2.3.4]

    @property
    def address(self) -> str:
        return f"{self.local}@{self.domain}" if self.domain else ""

    @property
    def is_null(self) -> bool:
        return not self.domain and not self.local


NULL_PATH = Path(local="", domain="")


def _domain(text: str, *, utf8: bool) -> tuple[str, bool]:
    if text.startswith("[") and text.endswith("]"):
        return text.lower(), True
    if text.endswith("."):
        raise PathError("trailing dot in domain")
    try:
        ascii_name = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError:
        raise PathError("invalid domain") from None
    if not text.isascii() and not utf8:
        raise PathError("non-ASCII domain without SMTPUTF8")
    labels = ascii_name.split(".")
    if len(ascii_name) > MAX_DOMAIN or not all(_LABEL.match(label) for label in labels):
        raise PathError("invalid domain")
    return ascii_name.lower(), False


def path_parse(text: str, *, utf8: bool = False, allow_null: bool = False, postmaster_domain: str = "") -> Path:
    """Parse '<local@domain>' (the brackets are required, RFC 5321 §4.1.2). With
    postmaster_domain (RCPT), '<Postmaster>' without a domain is postmaster at that domain
    (RFC 5321 §4.1.1.3, §4.5.1)."""
    if len(text) > MAX_PATH_LENGTH or not (text.startswith("<") and text.endswith(">")):
        raise PathError("path must be enclosed in <>")
    inner = text[1:-1]
    if postmaster_domain and inner.lower() == "postmaster":
        return Path(local="postmaster", domain=postmaster_domain)
    if inner == "":
        if allow_null:
            return NULL_PATH
        raise PathError("null path not allowed here")
    if inner.startswith("@"):
        raise PathError("source routes are not accepted")  # RFC 5321 §4.1.2 A-d-l; never relayed
    local, at, domain = inner.rpartition("@")
    if not at or not local or not domain:
        raise PathError("address needs local part and domain")
    quoted = _QUOTED.match(local)
    if quoted:
        local_text = re.sub(r"\\(.)", r"\1", quoted.group(1))
    else:
        pattern = _DOT_ATOM_UTF8 if utf8 else _DOT_ATOM
        if not pattern.match(local):
            raise PathError("invalid local part")
        local_text = local
    if len(local_text.encode()) > MAX_LOCAL_PART:
        raise PathError("local part too long")
    if not utf8 and not local_text.isascii():
        raise PathError("non-ASCII local part without SMTPUTF8")
    domain_text, literal = _domain(domain, utf8=utf8)
    return Path(local=local_text, domain=domain_text, is_literal=literal)


def split_command_argument(arg: str, keyword: str) -> tuple[str, list[str]] | None:
    """'FROM:<a@b> SIZE=10' -> ('<a@b>', ['SIZE=10']); None when the keyword is missing."""
    if not arg[: len(keyword)].upper() == keyword:
        return None
    rest = arg[len(keyword) :].lstrip()  # tolerate "FROM: <a@b>" like Postfix
    if not rest.startswith("<"):
        head, _, tail = rest.partition(" ")
        return head, tail.split()
    end = _path_end(rest)
    if end < 0:
        return rest, []
    return rest[: end + 1], rest[end + 1 :].split()


def _path_end(text: str) -> int:
    in_quote = False
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            in_quote = not in_quote
        elif char == ">" and not in_quote:
            return index
    return -1


def params_parse(words: list[str]) -> dict[str, str | None]:
    """ESMTP parameters (RFC 5321 §4.1.2 esmtp-param): keywords upper-cased, duplicates refused."""
    params: dict[str, str | None] = {}
    for word in words:
        keyword, equals, value = word.partition("=")
        if not _PARAM_KEYWORD.match(keyword):
            raise PathError(f"bad parameter {word!r}")
        name = keyword.upper()
        if name in params:
            raise PathError(f"duplicate parameter {name}")
        params[name] = value if equals else None
    return params


def xtext_valid(value: str) -> bool:
    """RFC 3461 §4 xtext (ENVID, ORCPT): printable ASCII, '+' only as '+HH'."""
    stripped = re.sub(r"\+[0-9A-F]{2}", "", value)
    return bool(_XTEXT_CHAR.match(stripped))
