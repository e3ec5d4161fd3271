"""Command parsing (RFC 3501 §9 grammar; literals incl. LITERAL+/LITERAL- of RFC 7888, ~{n} of RFC 3516).

The session hands over one whole command: its lines with every literal's bytes inline after the
"{n}\\r\\n" that announced it. The parser turns the arguments into a flat token list: Atom (str),
String (bytes; quoted or literal) and Python lists for parenthesised groups. A "[...]" inside an
atom (BODY[HEADER.FIELDS (A B)]<0.10>) is kept whole in the atom; fetch.py reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_NESTING = 32  # parenthesis depth; Dovecot's IMAP_PARSE_MAX_LIST_DEPTH is 32 as well
MAX_TAG_LENGTH = 64

_LITERAL_AT_END = re.compile(rb"(~?)\{(\d{1,20})([+-]?)\}\r?\n?$")
_TAG_CHARS = re.compile(r"[^\x00-\x20\x7f(){%*\"\\+]+")
_ATOM_STOP = frozenset(b'(){ "\r\n') | frozenset(range(0x00, 0x20)) | {0x7F}
# Runs of bytes that are not in _ATOM_STOP (and, for atoms, not "["): matched at C speed.
_STOP_CLASS = re.escape(bytes(sorted(_ATOM_STOP)))
_WORD_RUN = re.compile(b"[^" + _STOP_CLASS + b"]*")
_ATOM_RUN = re.compile(b"[^" + _STOP_CLASS + rb"\[]*")


def ascii_digits(text: str) -> bool:
    """Digits as the grammar means them: str.isdigit also takes other scripts' digits and '²',
    which int() then refuses or reads as a number the client did not send."""
    return text.isascii() and text.isdigit()


class ParseError(ValueError):
    """Syntax error in a command; the session answers BAD and goes on."""


class Atom(str):
    """An unquoted token: command names, flags, NIL, numbers, sets, fetch items."""

    __slots__ = ()


class String(bytes):
    """A quoted string or a literal; .text decodes UTF-8 (bytes outside it are kept escaped)."""

    __slots__ = ()

    @property
    def text(self) -> str:
        return self.decode("utf-8", "surrogateescape")


Token = Atom | String | list


@dataclass
class Command:
    tag: str
    name: str  # upper case; "UID FETCH" for UID commands
    args: list[Token]


def literal_announced(line: bytes) -> tuple[int, bool, bool] | None:
    """(size, synchronising, binary) when a command line ends with a literal announcement."""
    # Only the end can hold one ("~{" + 20 digits + "+}\r\n" is 26 bytes): searching the whole
    # line would try the pattern at every byte of it.
    match = _LITERAL_AT_END.search(line, max(len(line) - 32, 0))
    if match is None:
        return None
    return int(match.group(2)), match.group(3) != b"+", match.group(1) == b"~"


def tag_of(data: bytes) -> str:
    """The tag of a (possibly broken) command, for the BAD reply; "*" when there is none."""
    tag = data.split(b" ", 1)[0].strip()
    text = tag.decode("ascii", "replace")
    return text if tag and _TAG_CHARS.fullmatch(text) and len(text) <= MAX_TAG_LENGTH else "*"


def parse_command(data: bytes) -> Command:
    """Parse one whole command (without its final CRLF)."""
    parser = _Parser(data)
    tag = parser.word()
    if not _TAG_CHARS.fullmatch(tag) or len(tag) > MAX_TAG_LENGTH:
        raise ParseError("invalid tag")
    parser.space()
    name = parser.word().upper()
    if not name.isalpha() and not name.replace("-", "").isalnum():
        raise ParseError("invalid command name")
    if name == "UID":
        parser.space()
        name = "UID " + parser.word().upper()
    args = parser.rest()
    return Command(tag=tag, name=name, args=args)


class _Parser:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def word(self) -> str:
        start = self.position
        self.position = _WORD_RUN.match(self.data, start).end()  # type: ignore[union-attr]
        if self.position == start:
            raise ParseError("missing word")
        return self.data[start : self.position].decode("ascii", "replace")

    def space(self) -> None:
        if self.position >= len(self.data) or self.data[self.position] != 0x20:
            raise ParseError("missing space")
        self.position += 1

    def rest(self) -> list[Token]:
        tokens: list[Token] = []
        while self.position < len(self.data):
            self.space()
            tokens.append(self.token(0))
        return tokens

    def token(self, depth: int) -> Token:
        if self.position >= len(self.data):
            raise ParseError("missing argument")
        char = self.data[self.position]
        if char == 0x28:  # "("
            if depth >= MAX_NESTING:
                raise ParseError("parentheses nested too deeply")
            self.position += 1
            items: list[Token] = []
            while True:
                if self.position >= len(self.data):
                    raise ParseError("missing )")
                if self.data[self.position] == 0x29:
                    self.position += 1
                    return items
                if items:
                    self.space()
                    if self.position < len(self.data) and self.data[self.position] == 0x29:
                        raise ParseError("space before )")
                items.append(self.token(depth + 1))
        if char == 0x22:  # '"'
            return self.quoted()
        if char == 0x7B or (char == 0x7E and self.data[self.position + 1 : self.position + 2] == b"{"):
            return self.literal()
        return self.atom()

    def quoted(self) -> String:
        self.position += 1
        out = bytearray()
        data = self.data
        while True:
            if self.position >= len(data):
                raise ParseError("unterminated quoted string")
            char = data[self.position]
            if char == 0x22:
                self.position += 1
                return String(bytes(out))
            if char == 0x5C:
                self.position += 1
                if self.position >= len(data) or data[self.position] not in (0x22, 0x5C):
                    raise ParseError("bad escape in quoted string")
                char = data[self.position]
            elif char in (0x0D, 0x0A, 0x00):
                raise ParseError("CR, LF or NUL in quoted string")
            out.append(char)
            self.position += 1

    def literal(self) -> String:
        if self.data[self.position] == 0x7E:
            self.position += 1
        close = self.data.find(b"}", self.position)
        if close < 0:
            raise ParseError("unterminated literal size")
        size_text = self.data[self.position + 1 : close].rstrip(b"+-")
        if not size_text.isdigit() or len(size_text) > 20:
            raise ParseError("bad literal size")
        size = int(size_text)
        start = close + 1
        if self.data[start : start + 2] == b"\r\n":
            start += 2
        elif self.data[start : start + 1] == b"\n":
            start += 1
        else:
            raise ParseError("literal size not followed by CRLF")
        if start + size > len(self.data):
            raise ParseError("literal shorter than announced")
        self.position = start + size
        return String(self.data[start : start + size])

    def atom(self) -> Atom:
        data = self.data
        start = self.position
        while True:
            self.position = _ATOM_RUN.match(data, self.position).end()  # type: ignore[union-attr]
            if self.position >= len(data) or data[self.position] != 0x5B:
                break
            # "[": keep a section (with its spaces and parentheses) inside the atom
            end = _section_end(data, self.position)
            self.position = self.position + 1 if end is None else end
        if self.position == start:
            raise ParseError(f"unexpected character {chr(data[start])!r}")
        return Atom(data[start : self.position].decode("utf-8", "surrogateescape"))


def _section_end(data: bytes, start: int) -> int | None:
    """Index after the "]" closing the "[" at start, or None when it is not closed on this line."""
    close = data.find(b"]", start)
    if close > 0:  # the usual section: no quotes or line ends, balanced parentheses before its "]"
        inside = data[start + 1 : close]
        if b'"' not in inside and b"\r" not in inside and b"\n" not in inside:
            if inside.count(b"(") == inside.count(b")"):
                return close + 1
    return _section_end_scan(data, start)


def _section_end_scan(data: bytes, start: int) -> int | None:
    """_section_end byte by byte: quoted strings, nested parentheses."""
    depth = 0
    position = start + 1
    quoted = False
    while position < len(data):
        char = data[position]
        if quoted:
            if char == 0x5C:
                position += 1
            elif char == 0x22:
                quoted = False
        elif char == 0x22:
            quoted = True
        elif char == 0x28:
            depth += 1
        elif char == 0x29:
            depth -= 1
        elif char == 0x5D and depth == 0:
            return position + 1
        elif char in (0x0D, 0x0A):
            return None
        position += 1
    return None


class Args:
    """A cursor over a command's tokens with typed readers; each raises ParseError on misuse."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def more(self) -> bool:
        return self.index < len(self.tokens)

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def next(self) -> Token:
        if self.index >= len(self.tokens):
            raise ParseError("missing argument")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def atom(self) -> str:
        token = self.next()
        if not isinstance(token, Atom):
            raise ParseError("expected an atom")
        return str(token)

    def astring(self) -> str:
        token = self.next()
        if isinstance(token, String):
            return token.text
        if isinstance(token, Atom):
            return str(token)
        raise ParseError("expected a string")

    def astring_bytes(self) -> bytes:
        token = self.next()
        if isinstance(token, String):
            return bytes(token)
        if isinstance(token, Atom):
            return str(token).encode("utf-8", "surrogateescape")
        raise ParseError("expected a string")

    def string(self) -> String:
        token = self.next()
        if not isinstance(token, String):
            raise ParseError("expected a quoted string or literal")
        return token

    def number(self) -> int:
        text = self.atom()
        if not ascii_digits(text) or len(text) > 20:
            raise ParseError("expected a number")
        return int(text)

    def list(self) -> list[Token]:
        token = self.next()
        if not isinstance(token, list):
            raise ParseError("expected a parenthesised list")
        return token

    def end(self) -> None:
        if self.more():
            raise ParseError("too many arguments")
