"""Sieve (RFC 5228) for delivery-time folder rules: validation and a pure interpreter.

Scripts are parsed with sievelib; this module checks them against the extensions we implement
and runs them against a message's headers and envelope without any I/O. The MDA turns the
resulting actions into store deliveries, queue rows and vacation replies.

Supported: require, if/elsif/else, keep, discard, redirect, stop, fileinto (RFC 5228 §4.1),
`:copy` (RFC 3894), `:create` (RFC 5490 "mailbox"), vacation (RFC 5230: :days :subject :from
:addresses :mime :handle), tests header, address, envelope, exists, size, allof, anyof, not,
true, false; match types :is :contains :matches; comparators i;ascii-casemap and i;octet.
Not supported (refused at validation): body, relational, regex, variables, imap4flags, reject,
date, enotify.
"""

from __future__ import annotations

import re
import threading

from sievelib.parser import Parser

# What the ManageSieve SIEVE capability announces (RFC 5804 §1.7).
SUPPORTED_EXTENSIONS = (
    "fileinto",
    "envelope",
    "vacation",
    "copy",
    "mailbox",
    "comparator-i;ascii-casemap",
    "comparator-i;octet",
)
MAX_SCRIPT_BYTES = 256 * 1024  # matches store.services.sieve.MAX_SCRIPT_SIZE
MAX_NESTING = 32  # Pigeonhole's sieve_max_nesting_depth default is 32

_REQUIRE_NAMES = re.compile(r'"((?:[^"\\]|\\.)*)"')
_parser_lock = threading.Lock()


class SieveSyntaxError(ValueError):
    """A script the parser or our extension check refuses; the message names the line."""


def _line_of(script: str, needle: str) -> int:
    for number, line in enumerate(script.splitlines(), start=1):
        if needle in line:
            return number
    return 1


def sieve_parse(script: str) -> list:
    """Parse a script into sievelib commands; raise SieveSyntaxError with the line number."""
    data = script.encode("utf-8", "surrogateescape")
    if len(data) > MAX_SCRIPT_BYTES:
        raise SieveSyntaxError(f"line 1: script larger than {MAX_SCRIPT_BYTES} bytes")
    # sievelib keeps per-thread state; a lock keeps one parse per thread-safe call simple.
    with _parser_lock:
        parser = Parser()
        try:
            ok = parser.parse(data)
        except RecursionError:
            raise SieveSyntaxError("line 1: script nested too deeply") from None
        if not ok:
            raise SieveSyntaxError(str(parser.error))
        commands = list(parser.result)
        # sievelib accepts a last command without its ";"; a trailing probe command exposes it.
        if not Parser().parse(data + b"\nstop;"):
            raise SieveSyntaxError(f"line {max(1, script.count(chr(10)) + 1)}: missing ';' at end of script")
    for command in commands:
        if command.name == "require":
            names = command.arguments["capabilities"]
            for quoted in names if isinstance(names, list) else [names]:
                name = quoted.strip('"')
                if name not in SUPPORTED_EXTENSIONS:
                    line = _line_of(script, f'"{name}"')
                    raise SieveSyntaxError(f"line {line}: unsupported extension '{name}'")
    _check_depth(commands, 0, script)
    return commands


def _check_depth(commands: list, depth: int, script: str) -> None:
    if depth > MAX_NESTING:
        raise SieveSyntaxError(f"line 1: blocks nested deeper than {MAX_NESTING}")
    for command in commands:
        _check_depth(list(command.children), depth + 1, script)
        test = command.arguments.get("test") if command.name in ("if", "elsif", "not") else None
        if test is not None:
            _check_depth([test], depth + 1, script)


def sieve_validate(script: str) -> str | None:
    """None when the script is valid and uses only supported extensions; else 'line N: reason'."""
    try:
        sieve_parse(script)
    except SieveSyntaxError as error:
        return str(error)
    return None
