"""Helpers shared by the CLI subcommand groups."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Sequence
from typing import Any


class CliError(Exception):
    """A one-line error shown to the operator; the command exits with status 1."""


def read_password(options: dict[str, Any], prompt: str = "Password: ") -> str:
    if options.get("password_stdin"):
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(prompt)
        if getpass.getpass("Again: ") != password:
            raise CliError("passwords do not match")
    else:
        raise CliError("no terminal to ask for the password: use --password-stdin")
    if len(password) < 8:
        raise CliError("password too short: at least 8 characters")
    return password


def format_size(size: int) -> str:
    if size == 0:
        return "unlimited"
    for unit in ("B", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}".replace(".0", "")
        size /= 1024  # type: ignore[assignment]
    return str(size)


def table(rows: Sequence[tuple[str, ...]]) -> str:
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
