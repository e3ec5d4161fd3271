"""Parsing of operator-given values shared by the CLI and the admin panel."""

from __future__ import annotations

import argparse

from yubin.config import parse_size


def size_argument(text: str) -> int:
    """argparse type for sizes such as 500M or 2G."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
