"""The folder-rule builder: rules made of conditions and actions, turned into a Sieve script.

A builder script is ordinary Sieve (RFC 5228 with fileinto, RFC 3894 copy, RFC 5490 mailbox) that
carries its rules as JSON on one comment line, so the builder can open it again; a script edited
by hand without that line is edited as raw text only.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

BUILDER_MARKER = "# yubin-rules: "
HEADER_FIELDS = ("from", "to", "cc", "any-recipient", "subject", "list-id", "size")
ADDRESS_FIELDS = {"from": '"from"', "to": '"to"', "cc": '"cc"', "any-recipient": '["to", "cc"]'}
TEXT_OPERATORS = ("contains", "is", "matches")
SIZE_OPERATORS = ("over", "under")
ACTIONS = ("fileinto", "redirect", "redirect_copy", "discard", "keep", "stop")
ACTIONS_WITH_VALUE = {"fileinto", "redirect", "redirect_copy"}
_SIZE = re.compile(r"^[0-9]{1,12}[KMG]?$")


class RuleError(ValueError):
    """A rule that cannot become a script; the message says which part and why."""


@dataclass
class Condition:
    field: str
    op: str
    value: str


@dataclass
class Action:
    type: str
    value: str = ""


@dataclass
class Rule:
    name: str
    match: str = "allof"  # allof | anyof
    conditions: list[Condition] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)


def sieve_string(text: str) -> str:
    """A quoted string (RFC 5228 §2.4.2): backslash and double quote escaped; no line breaks."""
    cleaned = text.replace("\r", " ").replace("\n", " ")
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _condition_test(condition: Condition) -> str:
    if condition.field not in HEADER_FIELDS:
        raise RuleError(f"unknown field: {condition.field}")
    if condition.field == "size":
        value = condition.value.strip().upper()
        if condition.op not in SIZE_OPERATORS or not _SIZE.match(value):
            raise RuleError("a size condition needs over/under and a size such as 100K or 5M")
        return f"size :{condition.op} {value}"
    if condition.op not in TEXT_OPERATORS:
        raise RuleError(f"unknown comparison: {condition.op}")
    if not condition.value:
        raise RuleError("a condition needs a value")
    if condition.field in ADDRESS_FIELDS:
        return f"address :{condition.op} {ADDRESS_FIELDS[condition.field]} {sieve_string(condition.value)}"
    return f"header :{condition.op} {sieve_string(condition.field)} {sieve_string(condition.value)}"


def _action_command(action: Action) -> str:
    if action.type not in ACTIONS:
        raise RuleError(f"unknown action: {action.type}")
    if action.type in ACTIONS_WITH_VALUE and not action.value.strip():
        raise RuleError("this action needs a folder or an address")
    value = sieve_string(action.value.strip())
    return {
        "fileinto": f"fileinto :create {value};",
        "redirect": f"redirect {value};",
        "redirect_copy": f"redirect :copy {value};",
        "discard": "discard;",
        "keep": "keep;",
        "stop": "stop;",
    }[action.type]


def rules_to_script(rules: list[Rule]) -> str:
    body: list[str] = []
    for rule in rules:
        if not rule.actions:
            raise RuleError(f"rule “{rule.name}” has no action")
        tests = [_condition_test(c) for c in rule.conditions]
        if not tests:
            test = "true"
        elif len(tests) == 1:
            test = tests[0]
        else:
            joiner = "anyof" if rule.match == "anyof" else "allof"
            test = f"{joiner} (" + ", ".join(tests) + ")"
        body.append(f"# rule: {rule.name.replace(chr(10), ' ')}")
        body.append(f"if {test} {{")
        body.extend(f"    {_action_command(a)}" for a in rule.actions)
        body.append("}")
    payload = json.dumps([asdict(r) for r in rules], ensure_ascii=True, separators=(",", ":"))
    header = [
        "# Folder rules made with the rule builder of the admin panel.",
        BUILDER_MARKER + payload,
        'require ["fileinto", "copy", "mailbox"];',
    ]
    return "\n".join(header + body) + "\n"


def rules_from_script(script: str) -> list[Rule] | None:
    """The builder rules embedded in a script, or None when the script was not made by the builder."""
    for line in script.splitlines():
        if line.startswith(BUILDER_MARKER):
            try:
                raw: Any = json.loads(line[len(BUILDER_MARKER) :])
                rules = [
                    Rule(
                        name=str(item["name"]),
                        match=str(item.get("match", "allof")),
                        conditions=[Condition(**c) for c in item.get("conditions", [])],
                        actions=[Action(**a) for a in item.get("actions", [])],
                    )
                    for item in raw
                ]
            except (ValueError, TypeError, KeyError):
                return None
            # A script edited by hand after the builder made it is no longer the builder's.
            try:
                return rules if rules_to_script(rules) == script else None
            except RuleError:
                return None
    return None
