"""sieve_validate: valid scripts give None; errors name the line; unsupported extensions refused."""

from __future__ import annotations

import pytest

from agents.mda.sieve import SUPPORTED_EXTENSIONS, sieve_validate

VALID = [
    "keep;",
    'require "fileinto";\nif header :contains "subject" "[list]" { fileinto "Lists"; stop; }',
    'require ["fileinto", "mailbox"];\nfileinto :create "New/Sub";',
    'require ["envelope"];\nif envelope :domain :is "from" "example.org" { discard; }',
    'require ["vacation"];\nvacation :days 7 :subject "Away" :addresses ["a@example.test"] "I am away.";',
    'require ["copy"];\nredirect :copy "other@example.org";',
    'if anyof (size :over 1M, not exists "from", address :localpart :matches "to" "list-*") { discard; }',
    'if header :comparator "i;octet" :is "x-spam" "YES" { discard; } elsif true { keep; } else { stop; }',
    "# only a comment\n",
    "",
    'if address :domain :is ["Reply-To", "resent-from", "delivered-to"] "example.org" { keep; }',
]


@pytest.mark.parametrize("script", VALID)
def test_valid_scripts_have_no_error(script: str) -> None:
    """Each supported construct parses and passes the extension check."""
    assert sieve_validate(script) is None


@pytest.mark.parametrize(
    ("script", "line", "fragment"),
    [
        ('keep;\nfileinto "x";', 2, "fileinto"),
        ('require "body";\nif body :contains "x" { discard; }', 1, "body"),
        ('keep;\n\nrequire ["fileinto", "regex"];', 3, "regex"),
        ('if header :is "a" "b" {\n  keep;\n', 3, ""),
        ("keep", 1, ""),
        ('if size :over "x" { keep; }', 1, ""),
        # RFC 5228 §5.1: address tests only on headers that hold addresses (as Pigeonhole)
        ('keep;\nif address :is ["to", "Subject"] "x" { keep; }', 2, "Subject"),
        ('if not address :all :contains "x-spam" "a" { keep; }', 1, "x-spam"),
    ],
)
def test_invalid_scripts_name_the_line(script: str, line: int, fragment: str) -> None:
    """Errors start with 'line N:' and name the offending extension when there is one."""
    error = sieve_validate(script)
    assert error is not None
    assert error.startswith(f"line {line}:"), error
    assert fragment in error


def test_deep_nesting_is_refused() -> None:
    """A script nested beyond the limit is refused, never a crash."""
    script = "if true {" * 40 + "keep;" + "}" * 40
    error = sieve_validate(script)
    assert error is not None and "nested" in error


def test_supported_extensions_listed() -> None:
    """ManageSieve announces at least the extensions the delivery issue requires."""
    assert {"fileinto", "vacation", "envelope"} <= set(SUPPORTED_EXTENSIONS)
