"""Sequence sets (RFC 3501 §9 sequence-set, RFC 9051 §9): "1:4,7,9:*", "$" for SEARCHRES is not supported.

Ranges are kept as (low, high) pairs with "*" resolved against the largest number in use; a set
never expands into a list, so "1:4294967295" costs nothing.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence

from agents.imap.protocol.parser import ascii_digits

MAX_NUMBER = 4294967295  # nz-number is 32 bits (RFC 3501 §9)
MAX_RANGES = 100_000  # Dovecot refuses longer sets the same way (imap_max_line_length bounds them)


class SeqSetError(ValueError):
    """Not a sequence set."""


class SeqSet:
    """A parsed set; resolve(star) turns it into merged (low, high) ranges."""

    def __init__(self, parts: list[tuple[int | None, int | None]]) -> None:
        self.parts = parts  # None stands for "*"

    @classmethod
    def parse(cls, text: str) -> SeqSet:
        if not text:
            raise SeqSetError("empty sequence set")
        pieces = text.split(",")
        if len(pieces) > MAX_RANGES:
            raise SeqSetError("sequence set too long")
        parts: list[tuple[int | None, int | None]] = []
        for piece in pieces:
            low_text, colon, high_text = piece.partition(":")
            low = _number(low_text)
            high = _number(high_text) if colon else low
            parts.append((low, high))
        return cls(parts)

    def resolve(self, star: int) -> list[tuple[int, int]]:
        """Merged ascending ranges; "*" is star (the largest number in use, or 0 when empty)."""
        ranges: list[tuple[int, int]] = []
        for low, high in self.parts:
            a = star if low is None else low
            b = star if high is None else high
            if a > b:
                a, b = b, a
            ranges.append((a, b))
        ranges.sort()
        merged: list[tuple[int, int]] = []
        for a, b in ranges:
            if merged and a <= merged[-1][1] + 1:
                if b > merged[-1][1]:
                    merged[-1] = (merged[-1][0], b)
            else:
                merged.append((a, b))
        return merged

    def has_star(self) -> bool:
        return any(low is None or high is None for low, high in self.parts)


def _number(text: str) -> int | None:
    if text == "*":
        return None
    if not ascii_digits(text) or text[0] == "0" or len(text) > 10:
        raise SeqSetError(f"bad number in sequence set: {text[:20]!r}")
    value = int(text)
    if value > MAX_NUMBER:
        raise SeqSetError("number in sequence set exceeds 4294967295")
    return value


def select_positions(uids: Sequence[int] | array, ranges: list[tuple[int, int]]) -> list[int]:
    """Indexes (0-based) into the sorted uid list of the uids that fall in the ranges."""
    positions: list[int] = []
    for low, high in ranges:
        start = bisect_left(uids, low)
        stop = bisect_right(uids, high)
        positions.extend(range(start, stop))
    return positions


def seqset_format(numbers: Iterable[int]) -> str:
    """Compact set text of ascending or unordered numbers: [1,2,3,7] -> "1:3,7"."""
    return seqset_format_pairs(sorted(set(numbers)))


def seqset_format_pairs(numbers: list[int]) -> str:
    """A set that keeps the given order (COPYUID lists source and destination in matching order)."""
    pieces: list[str] = []
    index = 0
    while index < len(numbers):
        start = numbers[index]
        while index + 1 < len(numbers) and numbers[index + 1] == numbers[index] + 1:
            index += 1
        end = numbers[index]
        pieces.append(str(start) if start == end else f"{start}:{end}")
        index += 1
    return ",".join(pieces)
