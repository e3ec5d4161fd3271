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
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Any

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


# -- interpreter (RFC 5228 §2.10 actions, §5 tests) ---------------------------------------------


@dataclass(frozen=True)
class SieveInput:
    """What a script sees: decoded header fields, size and envelope (RFC 5228 §5.4)."""

    headers: list[tuple[str, str]]  # (lowercase name, decoded unfolded value), in message order
    size: int
    envelope_from: str
    envelope_to: str

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for field_name, value in self.headers if field_name == wanted]


@dataclass(frozen=True)
class FileInto:
    folder: str
    create: bool


@dataclass(frozen=True)
class Vacation:
    reason: str
    subject: str
    days: int
    addresses: tuple[str, ...]
    from_address: str
    handle: str
    mime: bool


@dataclass
class SieveResult:
    keep: bool = True  # implicit keep unless cancelled (RFC 5228 §2.10.2)
    explicit_keep: bool = False
    fileinto: list[FileInto] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)
    vacation: Vacation | None = None
    discarded: bool = False
    stopped: bool = False

    @property
    def folders(self) -> list[FileInto]:
        """Where copies go: each fileinto, plus INBOX for keep (explicit or implicit); no duplicates."""
        targets = list(dict.fromkeys(self.fileinto))
        if self.keep or self.explicit_keep:
            if not any(target.folder.upper() == "INBOX" for target in targets):
                targets.insert(0, FileInto("INBOX", create=False))
        return targets


class SieveRuntimeError(Exception):
    """A script that parsed but cannot run (e.g. too many actions); the mail goes to INBOX."""


MAX_REDIRECTS = 4  # Pigeonhole's sieve_max_redirects default
MAX_ACTIONS = 32  # Pigeonhole's sieve_max_actions default


def _unquote(value: Any) -> Any:
    if isinstance(value, list):
        return [_unquote(item) for item in value]
    if isinstance(value, str) and value.startswith("text:"):
        body = value[5:].split("\n", 1)[1] if "\n" in value else ""
        body = body[:-1] if body.endswith("\n.") else body.removesuffix(".")
        return "\n".join(line[1:] if line.startswith("..") else line for line in body.split("\n"))
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _as_list(value: Any) -> list[str]:
    unquoted = _unquote(value)
    return unquoted if isinstance(unquoted, list) else [unquoted]


def _glob(pattern: str, casefold: bool) -> re.Pattern[str]:
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            index += 1
            out.append(re.escape(pattern[index]))
        elif char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out), re.S | (re.I if casefold else 0))


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


def _match(values: list[str], keys: list[str], match_type: str, comparator: str) -> bool:
    """RFC 5228 §2.7: any value matching any key; i;ascii-casemap folds ASCII letters only."""
    casefold = comparator != "i;octet"
    for value in values:
        for key in keys:
            if match_type == ":matches":
                if _glob(_ascii_lower(key) if casefold else key, False).fullmatch(
                    _ascii_lower(value) if casefold else value
                ):
                    return True
                continue
            left, right = (_ascii_lower(value), _ascii_lower(key)) if casefold else (value, key)
            if match_type == ":contains" and right in left:
                return True
            if match_type == ":is" and left == right:
                return True
    return False


def _address_part(address: str, part: str) -> str | None:
    local, at, domain = address.rpartition("@")
    if part == ":localpart":
        return local if at else address
    if part == ":domain":
        return domain if at else None
    return address


def _header_addresses(message: SieveInput, names: list[str]) -> list[str]:
    addresses: list[str] = []
    for name in names:
        for value in message.header_values(name):
            addresses.extend(addr for _, addr in getaddresses([value]) if addr)
    return addresses


def _size_limit(value: Any) -> int:
    text = str(value).strip().upper()
    multiplier = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * multiplier


class _Runner:
    def __init__(self, message: SieveInput, result: SieveResult) -> None:
        self.message = message
        self.result = result
        self.actions = 0

    def test(self, command: Any) -> bool:
        name = command.name
        args = command.arguments
        extra = command.extra_arguments
        if name == "true":
            return True
        if name == "false":
            return False
        if name == "not":
            return not self.test(args["test"])
        if name in ("allof", "anyof"):
            results = (self.test(child) for child in args["tests"])
            return all(results) if name == "allof" else any(results)
        if name == "exists":
            return all(self.message.header_values(header) for header in _as_list(args["header-names"]))
        if name == "size":
            limit = _size_limit(args["limit"])
            return self.message.size > limit if args["comparator"] == ":over" else self.message.size < limit
        match_type = args.get("match-type", ":is")
        comparator = _unquote(extra.get("comparator", '"i;ascii-casemap"'))
        if name == "header":
            values = [v for header in _as_list(args["header-names"]) for v in self.message.header_values(header)]
            return _match(values, _as_list(args["key-list"]), match_type, comparator)
        if name in ("address", "envelope"):
            part = args.get("address-part", ":all")
            if name == "address":
                addresses = _header_addresses(self.message, _as_list(args["header-list"]))
            else:
                wanted = {item.lower() for item in _as_list(args["header-list"])}
                addresses = [self.message.envelope_from] if "from" in wanted else []
                addresses += [self.message.envelope_to] if "to" in wanted else []
            values = [p for p in (_address_part(a, part) for a in addresses) if p is not None]
            return _match(values, _as_list(args["key-list"]), match_type, comparator)
        raise SieveRuntimeError(f"unsupported test {name}")

    def run(self, commands: list[Any]) -> bool:
        """Run a block; False when `stop` ended the script."""
        branch_taken = False  # a branch of the current if/elsif/else chain already ran
        for command in commands:
            name = command.name
            if name in ("if", "elsif", "else"):
                if name == "if":
                    branch_taken = False
                if branch_taken:
                    continue
                if name == "else" or self.test(command.arguments["test"]):
                    branch_taken = True
                    if not self.run(command.children):
                        return False
                continue
            if name == "require":
                continue
            if name == "stop":
                self.result.stopped = True
                return False
            self.action(command)
        return True

    def action(self, command: Any) -> None:
        self.actions += 1
        if self.actions > MAX_ACTIONS:
            raise SieveRuntimeError(f"more than {MAX_ACTIONS} actions")
        name = command.name
        args = command.arguments
        copy = "copy" in args
        if name == "keep":
            self.result.explicit_keep = True
        elif name == "discard":
            self.result.keep = False
            self.result.discarded = True
        elif name == "fileinto":
            self.result.fileinto.append(FileInto(_unquote(args["mailbox"]), create="create" in args))
            self.result.keep = self.result.keep and copy
        elif name == "redirect":
            if len(self.result.redirects) >= MAX_REDIRECTS:
                raise SieveRuntimeError(f"more than {MAX_REDIRECTS} redirects")
            self.result.redirects.append(_unquote(args["address"]))
            self.result.keep = self.result.keep and copy
        elif name == "vacation":
            extra = command.extra_arguments
            days = int(extra.get("days", 7))
            self.result.vacation = Vacation(
                reason=_unquote(args["reason"]),
                subject=_unquote(extra.get("subject", '""')),
                days=min(max(days, 1), 30),  # RFC 5230 §4.1: sites may clamp :days
                addresses=tuple(_as_list(extra.get("addresses", []))),
                from_address=_unquote(extra.get("from", '""')),
                handle=_unquote(extra.get("handle", '""')),
                mime="mime" in args,
            )
        else:
            raise SieveRuntimeError(f"unsupported action {name}")


def sieve_run(scripts: list[list[Any]], message: SieveInput) -> SieveResult:
    """Run parsed scripts in order (the domain's before the account's) and collect actions.

    `stop` in an earlier script ends the whole run, as Pigeonhole's sieve_before does.
    """
    result = SieveResult()
    for commands in scripts:
        if not _Runner(message, result).run(commands):
            break
    return result
