"""Sieve relational (RFC 5231), date (RFC 5260) and the i;ascii-numeric comparator (RFC 4790),
and the webmail's own rules (mark as read, a vacation between two dates) as the server runs them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agents.mda.deliver import sieve_input
from agents.mda.sieve import SieveRuntimeError, SieveSyntaxError, sieve_parse, sieve_run, sieve_validate
from webmail.sieve.rules import Rule, RuleSet, Vacation, script_build

MESSAGE = (
    b"From: a@remote.example\r\n"
    b"To: hanako@example.test, jiro@example.test\r\n"
    b"Cc: taro@example.test\r\n"
    b"Subject: report\r\n"
    b"X-Spam-Score: 7\r\n"
    b"Received: from a by b; Sun, 03 Jan 2027 23:30:00 -0800\r\n"
    b"Received: from c by d; Sun, 03 Jan 2027 23:29:00 -0800\r\n"
    b"Date: Sun, 03 Jan 2027 23:15:00 -0800\r\n\r\nbody\r\n"
)
NOW = datetime(2027, 1, 4, 9, 45, 30, tzinfo=UTC)  # a Monday
REQUIRE = 'require ["fileinto", "relational", "date", "comparator-i;ascii-numeric"];\n'


def folders(test: str, now: datetime = NOW) -> list[str]:
    message = sieve_input(MESSAGE, size=len(MESSAGE), envelope_from="a@remote.example", envelope_to="h@example.test")
    message = type(message)(message.headers, message.size, message.envelope_from, message.envelope_to, now)
    script = sieve_parse(REQUIRE + f'if {test} {{ fileinto "Hit"; }}')
    return [target.folder for target in sieve_run([script], message).folders]


HITS = [
    'header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5"',
    'header :value "lt" :comparator "i;ascii-numeric" "x-spam-score" "10"',
    # Without the numeric comparator values compare as text: "7" > "10".
    'header :value "gt" "x-spam-score" "10"',
    'header :count "eq" :comparator "i;ascii-numeric" "received" "2"',
    'address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] "3"',
    'header :is :comparator "i;ascii-numeric" "x-spam-score" "007"',
    'currentdate :zone "+0000" "date" "2027-01-04"',
    'currentdate :zone "+0900" "hour" "18"',
    'currentdate :zone "-1000" "weekday" "0"',  # still Sunday in Hawaii
    'currentdate :value "ge" "date" "2027-01-01"',
    'currentdate :zone "+0000" "julian" "61409"',
    'currentdate :zone "+0000" "iso8601" "2027-01-04T09:45:30+00:00"',
    'date :originalzone "date" "date" "2027-01-03"',
    'date :zone "+0000" "date" "date" "2027-01-04"',
    'date :zone "+0000" "date" "time" "07:15:00"',
    'date :originalzone "date" "zone" "-0800"',
    # Received: the date after the last ";" of the first field.
    'date :originalzone "received" "minute" "30"',
]
MISSES = [
    'header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "8"',
    'header :count "gt" :comparator "i;ascii-numeric" "received" "2"',
    'header :value "gt" :comparator "i;ascii-numeric" "x-nope" "0"',
    'currentdate :value "gt" "date" "2027-01-04"',
    'date :originalzone "x-missing" "date" "2027-01-03"',
    'date :originalzone "subject" "year" "2027"',  # no date in it
]


@pytest.mark.parametrize("test", HITS)
def test_hits(test: str) -> None:
    assert folders(test) == ["Hit"]


@pytest.mark.parametrize("test", MISSES)
def test_misses(test: str) -> None:
    assert folders(test) == ["INBOX"]


def test_numeric_comparator_only_for_is_and_relations() -> None:
    with pytest.raises(SieveRuntimeError, match="i;ascii-numeric"):
        folders('header :contains :comparator "i;ascii-numeric" "x-spam-score" "7"')


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ('require "relational"; if header :value "bigger" "x" "1" { keep; }', '"bigger"'),
        (
            'require "relational"; if header :value "gt" :comparator "i;ascii-numeric" "x" "1" { keep; }',
            'needs require "comparator-i;ascii-numeric"',
        ),
        ('require "date"; if currentdate "fortnight" "1" { keep; }', "unknown date part 'fortnight'"),
        ('if header :value "gt" "x" "1" { keep; }', None),
    ],
)
def test_refused_at_validation(script: str, reason: str | None) -> None:
    error = sieve_validate(script)
    assert error is not None
    if reason:
        assert reason in error
    else:  # :value without require "relational": sievelib refuses it
        with pytest.raises(SieveSyntaxError):
            sieve_parse(script)


def test_webmail_rules_run_on_the_server() -> None:
    """The rules page's script (mark as read, a vacation from one date to another) is one the
    server accepts, and does what the page says."""
    ruleset = RuleSet(
        rules=[Rule(field="subject", match="is", value="report", action="markread", stop=False)],
        vacation=Vacation(
            enabled=True, subject="Away", body="Back soon.", days=3, start="2027-01-01", end="2027-01-10"
        ),
    )
    script = script_build(ruleset)
    assert sieve_validate(script) is None
    for now, away in ((NOW, True), (datetime(2027, 1, 11, 12, tzinfo=UTC), False)):
        message = sieve_input(MESSAGE, size=len(MESSAGE), envelope_from="a@remote.example", envelope_to="h@x.test")
        message = type(message)(message.headers, message.size, message.envelope_from, message.envelope_to, now)
        result = sieve_run([sieve_parse(script)], message)
        assert [(t.folder, t.flags) for t in result.folders] == [("INBOX", ("\\Seen",))]
        assert (result.vacation is not None) == away
