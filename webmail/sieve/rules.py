"""Simple rules <-> Sieve script (RFC 5228 with fileinto, imap4flags 5232, vacation 5230, date 5260).

The form's rules are written as one script named SCRIPT_NAME. The rules themselves travel in a
comment line of that script (JSON), so the form reopens exactly what the user wrote; the Sieve
below it is what the MDA runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date

SCRIPT_NAME = "webmail"
RULES_MARKER = "# yubin-rules: "
FIELDS = ("from", "to", "subject", "header")
MATCHES = ("contains", "is")
ACTIONS = ("fileinto", "markread", "redirect", "discard")
MAX_RULES = 200
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")  # RFC 5322 field-name characters


class RuleInvalid(ValueError):
    pass


@dataclass
class Rule:
    field: str = "from"  # from | to | subject | header
    header: str = ""  # the header name when field == "header"
    match: str = "contains"
    value: str = ""
    action: str = "fileinto"
    argument: str = ""  # folder for fileinto, address for redirect
    stop: bool = True

    def check(self) -> Rule:
        if self.field not in FIELDS or self.match not in MATCHES or self.action not in ACTIONS:
            raise RuleInvalid("unknown field, match or action")
        if self.field == "header" and not _HEADER_NAME.match(self.header):
            raise RuleInvalid("header name")
        for text in (self.value, self.argument, self.header):
            if any(c in text for c in "\r\n\x00"):
                raise RuleInvalid("line break")
        if not self.value:
            raise RuleInvalid("empty value")
        if self.action in ("fileinto", "redirect") and not self.argument:
            raise RuleInvalid("missing folder or address")
        return self


@dataclass
class Vacation:
    enabled: bool = False
    subject: str = ""
    body: str = ""
    days: int = 1
    start: str = ""  # ISO dates, inclusive
    end: str = ""

    def check(self) -> Vacation:
        if any(c in self.subject for c in "\r\n\x00"):
            raise RuleInvalid("subject")
        for value in (self.start, self.end):
            if value:
                date.fromisoformat(value)
        self.days = min(max(int(self.days), 1), 30)
        return self


@dataclass
class RuleSet:
    rules: list[Rule] = field(default_factory=list)
    vacation: Vacation = field(default_factory=Vacation)


def quote(text: str) -> str:
    """A Sieve quoted string (RFC 5228 §2.4.2): backslash and double quote escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _test(rule: Rule) -> str:
    match = ":is" if rule.match == "is" else ":contains"
    if rule.field in ("from", "to"):
        headers = '["from", "sender"]' if rule.field == "from" else '["to", "cc"]'
        return f"address {match} {headers} {quote(rule.value)}"
    name = "subject" if rule.field == "subject" else rule.header.lower()
    return f"header {match} {quote(name)} {quote(rule.value)}"


def _action(rule: Rule) -> str:
    if rule.action == "fileinto":
        return f"fileinto {quote(rule.argument)};"
    if rule.action == "markread":
        return 'addflag "\\\\Seen";'
    if rule.action == "redirect":
        return f"redirect {quote(rule.argument)};"
    return "discard;"


def script_build(ruleset: RuleSet) -> str:
    rules = [rule.check() for rule in ruleset.rules][:MAX_RULES]
    vacation = ruleset.vacation.check()
    requires = set()
    body: list[str] = []
    for rule in rules:
        if rule.action == "fileinto":
            requires.add("fileinto")
        if rule.action == "markread":
            requires.add("imap4flags")
        lines = [f"if {_test(rule)} {{", f"    {_action(rule)}"]
        if rule.stop:
            lines.append("    stop;")
        lines.append("}")
        body.extend(lines)
    if vacation.enabled:
        requires.add("vacation")
        action = f"vacation :days {vacation.days} :subject {quote(vacation.subject)} {quote(vacation.body)};"
        conditions = []
        if vacation.start:
            conditions.append(f'currentdate :value "ge" "date" {quote(vacation.start)}')
        if vacation.end:
            conditions.append(f'currentdate :value "le" "date" {quote(vacation.end)}')
        if conditions:
            requires.update({"date", "relational"})
            body.insert(0, f"if allof({', '.join(conditions)}) {{\n    {action}\n}}")
        else:
            body.insert(0, action)
    payload = json.dumps({"rules": [asdict(r) for r in rules], "vacation": asdict(vacation)}, ensure_ascii=True)
    head = [RULES_MARKER + payload]
    if requires:
        head.append("require [" + ", ".join(quote(name) for name in sorted(requires)) + "];")
    return "\r\n".join(head + body) + "\r\n"


def script_parse(script: str) -> RuleSet:
    """The rules written by script_build; a script written elsewhere gives an empty form."""
    for line in script.splitlines():
        if line.startswith(RULES_MARKER):
            try:
                data = json.loads(line[len(RULES_MARKER) :])
                return RuleSet(
                    rules=[Rule(**rule) for rule in data.get("rules", [])],
                    vacation=Vacation(**data.get("vacation", {})),
                )
            except (ValueError, TypeError):
                break
    return RuleSet()
