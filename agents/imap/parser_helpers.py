"""Small argument readers shared by several commands (flag lists, NIL-or-list, dates)."""

from __future__ import annotations

from datetime import datetime

from agents.imap.errors import Bad
from agents.imap.protocol.parser import Args, Atom, String, Token
from store.models import Flag

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def nil_or_list(args: Args) -> list[Token] | None:
    token = args.next()
    if isinstance(token, Atom) and token.upper() == "NIL":
        return None
    if not isinstance(token, list):
        raise Bad("Expected NIL or a list")
    return token


def flags_parse(tokens: list[Token] | Token) -> tuple[int, list[str]]:
    """A flag list (or a single flag) -> (system flag bits, keywords) (RFC 3501 §2.3.2)."""
    items = tokens if isinstance(tokens, list) else [tokens]
    bits = 0
    keywords: list[str] = []
    for item in items:
        if not isinstance(item, Atom):
            raise Bad("Flags must be atoms")
        name = str(item)
        if name.startswith("\\"):
            bit = Flag.bit(name)
            if not bit:
                if name.lower() == "\\recent":
                    raise Bad("\\Recent cannot be set")
                raise Bad(f"Unknown system flag {name[:40]}")
            bits |= bit
        else:
            if len(name) > Flag.KEYWORD_MAX_LENGTH or any(c in name for c in "[]"):
                raise Bad("Invalid keyword")
            if name not in keywords:
                keywords.append(name)
    return bits, keywords


def date_parse(text: str) -> datetime:
    """date (RFC 3501 §9): d-mmm-yyyy."""
    try:
        day, month, year = text.split("-")
        return datetime(int(year), _MONTHS.index(month.capitalize()) + 1, int(day))
    except (ValueError, IndexError):
        raise Bad("Invalid date") from None


def datetime_parse(text: str) -> datetime:
    """date-time (RFC 3501 §9): "dd-mmm-yyyy hh:mm:ss +zzzz"."""
    try:
        return datetime.strptime(text.strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        raise Bad("Invalid date-time") from None


def datetime_format(value: datetime) -> str:
    return f"{value.day:02d}-{_MONTHS[value.month - 1]}-{value.year:04d} {value.strftime('%H:%M:%S %z')}"


def string_token(token: Token) -> str:
    if isinstance(token, String):
        return token.text
    if isinstance(token, Atom):
        return str(token)
    raise Bad("Expected a string")
