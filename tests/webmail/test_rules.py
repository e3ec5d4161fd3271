"""The rules form's Sieve script: generated text, quoting, round trip, refusal of bad input."""

from __future__ import annotations

import pytest
from sievelib.parser import Parser

from webmail.sieve.rules import Rule, RuleInvalid, RuleSet, Vacation, script_build, script_parse


def test_script_round_trips_and_parses():
    """The generated script is valid Sieve and reopens as the same rules."""
    ruleset = RuleSet(
        rules=[
            Rule(field="from", match="contains", value="boss@example.jp", action="fileinto", argument="仕事"),
            Rule(field="subject", match="is", value='quote " and \\ back', action="markread", stop=False),
            Rule(field="header", header="List-Id", value="dev.example", action="redirect", argument="me@example.org"),
            Rule(field="to", value="spam", action="discard"),
        ],
        vacation=Vacation(
            enabled=True, subject="不在", body="休暇中です。", days=3, start="2030-01-01", end="2030-01-10"
        ),
    )
    script = script_build(ruleset)
    parser = Parser()
    assert parser.parse(script), parser.error
    assert 'fileinto "仕事";' in script
    assert r'"quote \" and \\ back"' in script
    assert 'currentdate :value "ge" "date" "2030-01-01"' in script
    assert script_parse(script) == ruleset


@pytest.mark.parametrize(
    "rule",
    [
        Rule(value="x\r\nstop;", action="discard"),
        Rule(value="x", action="fileinto", argument="a\nb"),
        Rule(field="header", header="Bad Header", value="x", action="discard"),
        Rule(field="nope", value="x", action="discard"),
        Rule(value="x", action="fileinto", argument=""),
    ],
)
def test_invalid_rules_refused(rule):
    """Line breaks, bad header names, unknown fields and missing folders are refused."""
    with pytest.raises(RuleInvalid):
        script_build(RuleSet(rules=[rule]))


def test_foreign_script_gives_empty_form():
    """A script written by another tool opens as an empty form rather than failing."""
    assert script_parse('require "fileinto";\nfileinto "x";') == RuleSet()
