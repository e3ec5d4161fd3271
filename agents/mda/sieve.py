"""Sieve (RFC 5228) for delivery-time folder rules: validation and a pure interpreter.

Scripts are parsed with sievelib; this module checks them against the extensions we implement
and runs them against a message's headers and envelope without any I/O. The MDA turns the
resulting actions into store deliveries, queue rows and vacation replies.

Supported: require, if/elsif/else, keep, discard, redirect, stop, fileinto (RFC 5228 §4.1),
`:copy` (RFC 3894), `:create` and `mailboxexists` (RFC 5490 "mailbox"), vacation (RFC 5230: :days :subject :from
:addresses :mime :handle), imap4flags (RFC 5232: setflag, addflag, removeflag, hasflag, :flags
on keep and fileinto, on the internal variable only), relational (RFC 5231: :count and :value),
date (RFC 5260: the date and currentdate tests), tests header, address, envelope, exists, size,
allof, anyof, not, true, false; match types :is :contains :matches; comparators
i;ascii-casemap, i;octet and i;ascii-numeric (RFC 4790). Not supported (refused at validation):
body, regex, variables, reject, enotify, index.
"""

from __future__ import annotations

import operator
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from email.utils import format_datetime, getaddresses, parsedate_to_datetime
from typing import Any

from sievelib import commands as sievelib_commands
from sievelib.parser import Parser

from store.models import Flag

# What the ManageSieve SIEVE capability announces (RFC 5804 §1.7).
SUPPORTED_EXTENSIONS = (
    "fileinto",
    "envelope",
    "vacation",
    "copy",
    "mailbox",
    "imap4flags",
    "relational",
    "date",
    "comparator-i;ascii-casemap",
    "comparator-i;octet",
    "comparator-i;ascii-numeric",
)
# RFC 5228 §5.1: the address test MUST be limited to header fields that hold addresses; this is
# Pigeonhole's list, so a script that Dovecot accepts is accepted here and the reverse.
ADDRESS_HEADERS = frozenset(
    {
        "from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender", "resent-to",
        "resent-cc", "resent-bcc", "delivered-to", "errors-to", "mail-followup-to", "mail-reply-to",
        "return-receipt-to", "x-original-to", "apparently-to",
    }
)  # fmt: skip
MAX_SCRIPT_BYTES = 256 * 1024  # matches store.services.sieve.MAX_SCRIPT_SIZE
MAX_NESTING = 32  # Pigeonhole's sieve_max_nesting_depth default is 32

# sievelib checks :comparator against a fixed list of the two comparators every implementation
# has (RFC 5228 §2.7.3); i;ascii-numeric (RFC 4790 §9.1), which relational tests need, is ours.
_comparators: Any = sievelib_commands.comparator["extra_arg"]
if '"i;ascii-numeric"' not in _comparators["values"]:
    _comparators["values"].append('"i;ascii-numeric"')


class MailboxexistsCommand(sievelib_commands.TestCommand):
    """RFC 5490 §3.1 mailboxexists, which sievelib does not know: registered with it so that
    scripts using it parse."""

    args_definition = [{"name": "mailbox-names", "type": ["string", "stringlist"], "required": True}]
    extension = "mailbox"


sievelib_commands.add_commands(MailboxexistsCommand)

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
    required: set[str] = set()
    for command in commands:
        if command.name == "require":
            names = command.arguments["capabilities"]
            for quoted in names if isinstance(names, list) else [names]:
                name = quoted.strip('"')
                if name not in SUPPORTED_EXTENSIONS:
                    line = _line_of(script, f'"{name}"')
                    raise SieveSyntaxError(f"line {line}: unsupported extension '{name}'")
                required.add(name)
    _check_depth(commands, 0, script)
    for command in _walk(commands):
        relation = _relation(command)
        if relation is not None and relation not in RELATIONS:
            raise SieveSyntaxError(f"line {_line_of(script, relation)}: unknown relation '{relation}'")
        comparator = _unquote(command.extra_arguments.get("comparator", '""'))
        if comparator == "i;ascii-numeric" and "comparator-i;ascii-numeric" not in required:
            line = _line_of(script, "i;ascii-numeric")
            raise SieveSyntaxError(f'line {line}: "i;ascii-numeric" needs require "comparator-i;ascii-numeric"')
        if command.name == "address":
            for header in _as_list(command.arguments.get("header-list", [])):
                if str(header).lower() not in ADDRESS_HEADERS:
                    line = _line_of(script, f'"{header}"')
                    raise SieveSyntaxError(f"line {line}: '{header}' is not an address header for the address test")
        part = str(_unquote(command.arguments.get("date-part", '""'))).lower()
        if command.name in ("date", "currentdate") and part not in DATE_PARTS:
            raise SieveSyntaxError(f"line {_line_of(script, part)}: unknown date part '{part}'")
        if command.name in FLAG_COMMANDS and (
            "variable-name" in command.arguments or "variable-list" in command.arguments
        ):
            # A variable name before the flags needs "variables" (RFC 5232 §3), which we do not offer.
            line = _line_of(script, command.name)
            raise SieveSyntaxError(f"line {line}: {command.name} on a variable needs 'variables'")
    return commands


def _walk(commands: list) -> Iterator[Any]:
    """Every command and test of a script, nested ones included."""
    for command in commands:
        yield command
        args = command.arguments
        yield from _walk([args["test"]] if "test" in args else [])
        yield from _walk(list(args.get("tests", [])))
        yield from _walk(list(command.children))


def _relation(command: Any) -> str | None:
    """The relation of a :count or :value match (RFC 5231), if the command has one."""
    if command.arguments.get("match-type") in (":count", ":value"):
        return str(_unquote(command.extra_arguments.get("match-type", '""'))).lower()
    return None


FLAG_COMMANDS = ("setflag", "addflag", "removeflag", "hasflag")


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
    now: datetime = field(default_factory=lambda: datetime.now(UTC))  # what currentdate sees
    # mailboxexists: whether the recipient has a folder of that name; none known when not given.
    mailbox_exists: Callable[[str], bool] = field(default=lambda _name: False, compare=False)

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for field_name, value in self.headers if field_name == wanted]


@dataclass(frozen=True)
class FileInto:
    folder: str
    create: bool
    flags: tuple[str, ...] = ()  # imap4flags: the copy's flags and keywords, as named


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
    fileinto: list[FileInto] = field(default_factory=list)  # fileinto and explicit keep, in order
    redirects: list[str] = field(default_factory=list)
    vacation: Vacation | None = None
    discarded: bool = False
    stopped: bool = False
    keep_flags: tuple[str, ...] = ()  # imap4flags: the internal variable as the script ends

    @property
    def folders(self) -> list[FileInto]:
        """Where copies go: each fileinto and explicit keep, then the implicit keep when nothing
        cancelled it; one copy per folder, INBOX first. A folder filed into more than once gets
        the flags of the last action that filed it (imap4flags, RFC 5232, as Pigeonhole does:
        `keep :flags "\\Deleted"; ... keep;` stores the message without \\Deleted)."""
        actions = list(self.fileinto)
        if self.keep and not self.explicit_keep:
            actions.append(FileInto("INBOX", create=False, flags=self.keep_flags))
        targets: dict[str, FileInto] = {}
        for target in actions:
            key = "INBOX" if target.folder.upper() == "INBOX" else target.folder
            seen = targets.get(key)
            targets[key] = target if seen is None else FileInto(seen.folder, seen.create or target.create, target.flags)
        inbox = targets.pop("INBOX", None)
        return ([inbox] if inbox is not None else []) + list(targets.values())


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


RELATIONS = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
    "eq": operator.eq,
    "ne": operator.ne,
}
COMPARATORS = ("i;ascii-casemap", "i;octet", "i;ascii-numeric")
_DIGITS = "0123456789"


def _ordering(text: str, comparator: str) -> tuple[int, int] | str:
    """A value as the comparator orders it. i;ascii-numeric (RFC 4790 §9.1): the number its
    leading ASCII digits make; a string that starts with none is above every number."""
    if comparator == "i;ascii-numeric":
        digits = len(text) - len(text.lstrip(_DIGITS))
        return (0, int(text[:digits])) if digits else (1, 0)
    return text if comparator == "i;octet" else _ascii_lower(text)


def _match(values: list[str], keys: list[str], match_type: str, comparator: str, relation: str | None = None) -> bool:
    """RFC 5228 §2.7: any value matching any key; i;ascii-casemap folds ASCII letters only.
    :count compares the number of values and :value each value, by the relation (RFC 5231)."""
    if comparator not in COMPARATORS:
        raise SieveRuntimeError(f"unknown comparator {comparator}")
    if match_type == ":count":
        values, match_type = [str(len(values))], ":value"
    if match_type == ":value":
        compare = RELATIONS[relation or ""]
        return any(
            compare(_ordering(value, comparator), _ordering(key, comparator)) for value in values for key in keys
        )
    if comparator == "i;ascii-numeric":
        if match_type != ":is":
            raise SieveRuntimeError(f"i;ascii-numeric cannot do {match_type}")
        return any(_ordering(value, comparator) == _ordering(key, comparator) for value in values for key in keys)
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


DATE_PARTS = (
    "year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601", "std11", "zone", "weekday",
)  # fmt: skip
_MJD_EPOCH = date(1858, 11, 17)  # day 0 of the Modified Julian Day count (RFC 5260 §4.2)


def _date_part(moment: datetime, part: str) -> str:
    """RFC 5260 §4.2."""
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    zone = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return {
        "year": f"{moment.year:04d}",
        "month": f"{moment.month:02d}",
        "day": f"{moment.day:02d}",
        "date": f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}",
        "julian": str((moment.date() - _MJD_EPOCH).days),
        "hour": f"{moment.hour:02d}",
        "minute": f"{moment.minute:02d}",
        "second": f"{moment.second:02d}",
        "time": f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}",
        "iso8601": moment.replace(microsecond=0).isoformat(),
        "std11": format_datetime(moment.replace(microsecond=0)),
        "zone": zone,
        "weekday": str((moment.weekday() + 1) % 7),  # 0 is Sunday
    }[part]


def _zone(text: str) -> tzinfo:
    """A :zone argument, "+hhmm" or "-hhmm" (RFC 5260 §4.1)."""
    if len(text) != 5 or text[0] not in "+-" or not all(char in _DIGITS for char in text[1:]):
        raise SieveRuntimeError(f"bad time zone {text!r}")
    minutes = int(text[1:3]) * 60 + int(text[3:])
    return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))


def _header_date(message: SieveInput, header: Any) -> datetime | None:
    """The date in the first such field; in a Received field, the part after its last ";"."""
    values = message.header_values(_unquote(header))
    if not values:
        return None
    text = values[0].rpartition(";")[2] if ";" in values[0] else values[0]
    try:
        moment = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _flag_names(value: Any) -> list[str]:
    """RFC 5232 §3: each string holds flags separated by spaces."""
    return [name for item in _as_list(value) for name in item.split(" ") if name]


def _flags_union(*groups: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Flags in first-seen order, once each whatever their case (IMAP flag names ignore case)."""
    seen: dict[str, str] = {}
    for group in groups:
        for name in group:
            seen.setdefault(name.lower(), name)
    return tuple(seen.values())


class _Runner:
    def __init__(self, message: SieveInput, result: SieveResult) -> None:
        self.message = message
        self.result = result
        self.actions = 0
        self.flags: tuple[str, ...] = ()  # imap4flags' internal variable, empty at the start

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
        if name == "mailboxexists":  # every named folder exists (RFC 5490 §3.1)
            return all(self.message.mailbox_exists(folder) for folder in _as_list(args["mailbox-names"]))
        if name == "exists":
            return all(self.message.header_values(header) for header in _as_list(args["header-names"]))
        if name == "size":
            limit = _size_limit(args["limit"])
            return self.message.size > limit if args["comparator"] == ":over" else self.message.size < limit
        match_type = args.get("match-type", ":is")
        comparator = _unquote(extra.get("comparator", '"i;ascii-casemap"'))
        relation = _relation(command)
        if name == "hasflag":
            return _match(list(self.flags), _flag_names(args["list-of-flags"]), match_type, comparator, relation)
        if name == "header":
            values = [v for header in _as_list(args["header-names"]) for v in self.message.header_values(header)]
            return _match(values, _as_list(args["key-list"]), match_type, comparator, relation)
        if name in ("date", "currentdate"):
            moment = self.message.now if name == "currentdate" else _header_date(self.message, args["header-name"])
            if moment is None:
                return False  # no such field, or no date in it (RFC 5260 §4)
            if args.get("zone") == ":zone":
                moment = moment.astimezone(_zone(_unquote(extra["zone"])))
            elif args.get("zone") != ":originalzone":
                moment = moment.astimezone()  # the local time zone
            value = _date_part(moment, _unquote(args["date-part"]).lower())
            return _match([value], _as_list(args["key-list"]), match_type, comparator, relation)
        if name in ("address", "envelope"):
            part = args.get("address-part", ":all")
            if name == "address":
                addresses = _header_addresses(self.message, _as_list(args["header-list"]))
            else:
                wanted = {item.lower() for item in _as_list(args["header-list"])}
                addresses = [self.message.envelope_from] if "from" in wanted else []
                addresses += [self.message.envelope_to] if "to" in wanted else []
            values = [p for p in (_address_part(a, part) for a in addresses) if p is not None]
            return _match(values, _as_list(args["key-list"]), match_type, comparator, relation)
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
        if name in ("setflag", "addflag", "removeflag"):
            self.actions -= 1  # flag changes are not actions that count (RFC 5232 §3)
            names = _flag_names(args["list-of-flags"])
            if name == "setflag":
                self.flags = _flags_union(names)
            elif name == "addflag":
                self.flags = _flags_union(self.flags, names)
            else:
                removed = {flag.lower() for flag in names}
                self.flags = tuple(flag for flag in self.flags if flag.lower() not in removed)
        elif name == "keep":
            self.result.explicit_keep = True
            self.result.fileinto.append(FileInto("INBOX", create=False, flags=self._action_flags(command)))
        elif name == "discard":
            self.result.keep = False
            self.result.discarded = True
        elif name == "fileinto":
            folder = _unquote(args["mailbox"])
            self.result.fileinto.append(FileInto(folder, create="create" in args, flags=self._action_flags(command)))
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

    def _action_flags(self, command: Any) -> tuple[str, ...]:
        """:flags when given, else the internal variable as it is now (RFC 5232 §5)."""
        if "flags" in command.arguments:
            return _flags_union(_flag_names(command.extra_arguments["flags"]))
        return self.flags


_ATOM_SPECIALS = set('(){ %*"\\]')


def flags_stored(names: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
    """imap4flags names as the store keeps them: (system flag bits, keywords). Names that are no
    IMAP flag (an unknown or \\Recent system flag, a keyword that is no atom) are left out, as
    RFC 5232 §3 asks, rather than failing the delivery."""
    bits = 0
    keywords: list[str] = []
    for name in names:
        if name.startswith("\\"):
            bits |= Flag.bit(name)
        elif (
            len(name) <= Flag.KEYWORD_MAX_LENGTH
            and name.isascii()
            and all(" " < char < "\x7f" and char not in _ATOM_SPECIALS for char in name)
            and name.lower() not in (k.lower() for k in keywords)
        ):
            keywords.append(name)
    return bits, tuple(keywords)


def sieve_run(scripts: list[list[Any]], message: SieveInput) -> SieveResult:
    """Run parsed scripts in order (the domain's before the account's) and collect actions.

    `stop` in an earlier script ends the whole run, as Pigeonhole's sieve_before does.
    """
    result = SieveResult()
    for commands in scripts:
        runner = _Runner(message, result)
        going_on = runner.run(commands)
        result.keep_flags = runner.flags  # the implicit keep takes the variable as it ends
        if not going_on:
            break
    return result
