"""Sieve imap4flags (RFC 5232): the internal variable, :flags on keep and fileinto, hasflag, and
the flags the stored copies get over a real MX delivery."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest

from agents.mda.deliver import sieve_input
from agents.mda.sieve import SieveSyntaxError, flags_stored, sieve_parse, sieve_run
from store.models import Flag, Folder, Message
from store.services.sieve import sieve_script_put

MESSAGE = b"From: <bob@remote.example>\r\nTo: <hanako@example.test>\r\nSubject: quarterly figures\r\n\r\nhi\r\n"
REQUIRE = 'require ["imap4flags", "fileinto", "copy"];\n'


def copies(script: str) -> list[tuple[str, tuple[str, ...]]]:
    message = sieve_input(MESSAGE, size=len(MESSAGE), envelope_from="bob@remote.example", envelope_to="h@example.test")
    return [(target.folder, target.flags) for target in sieve_run([sieve_parse(REQUIRE + script)], message).folders]


CASES = [
    ("keep;", [("INBOX", ())]),
    ('addflag "\\\\Seen"; keep;', [("INBOX", ("\\Seen",))]),
    # The implicit keep takes the variable as the script ends.
    ('setflag ["\\\\Seen", "\\\\Flagged"]; removeflag "\\\\flagged";', [("INBOX", ("\\Seen",))]),
    # One string may hold several flags; :flags replaces the variable for that action only.
    ('addflag "\\\\Seen"; fileinto :flags "\\\\Flagged $Work" "Work";', [("Work", ("\\Flagged", "$Work"))]),
    # Each action takes the variable as it is at that moment.
    ('fileinto :copy "A"; addflag "\\\\Seen";', [("INBOX", ("\\Seen",)), ("A", ())]),
    ('addflag "Junk"; if hasflag :is "junk" { fileinto "Spam"; }', [("Spam", ("Junk",))]),
    ('addflag "Junk"; if hasflag :contains "unk" { fileinto "Spam"; }', [("Spam", ("Junk",))]),
    ('if hasflag "Junk" { fileinto "Spam"; }', [("INBOX", ())]),
    # Two actions into one folder make one copy, with the flags of the last (as Pigeonhole's
    # sieve-test shows for each of these scripts).
    ('fileinto :flags "\\\\Seen" "A"; fileinto :flags "\\\\Flagged" "A";', [("A", ("\\Flagged",))]),
    ('fileinto :flags "\\\\Seen" "A"; fileinto "A";', [("A", ())]),
    ('keep :flags "\\\\Deleted"; setflag "\\\\Answered"; keep;', [("INBOX", ("\\Answered",))]),
    ('keep :flags "$A"; addflag "$B";', [("INBOX", ("$A",))]),  # an explicit keep ends the implicit one
    ('addflag ["a", "A", "b"]; keep;', [("INBOX", ("a", "b"))]),
]


@pytest.mark.parametrize(("script", "expected"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_flags_of_each_copy(script: str, expected: list[tuple[str, tuple[str, ...]]]) -> None:
    assert copies(script) == expected


def test_flag_commands_on_a_variable_need_variables() -> None:
    with pytest.raises(SieveSyntaxError, match="variables"):
        sieve_parse('require "imap4flags";\nsetflag "mine" "\\\\Seen";')
    with pytest.raises(SieveSyntaxError, match="unsupported extension 'variables'"):
        sieve_parse('require ["imap4flags", "variables"];\nkeep;')


def test_flags_stored_keeps_imap_flags_only() -> None:
    """System flags by name whatever their case; \\Recent, unknown system flags and keywords that
    are no IMAP atom are dropped (RFC 5232 §3), never failing the delivery."""
    names = ("\\seen", "\\Recent", "\\Bogus", "$Label1", "bad(kw", "$label1", "\\DRAFT", "日本")
    assert flags_stored(names) == (Flag.SEEN | Flag.DRAFT, ("$Label1",))


def test_flags_set_at_delivery_over_smtp(smtp_server: Any, accounts: Any) -> None:
    """What a user's "mark as read and flag" rule does: the copies are stored with those flags,
    and the folder's unseen count knows it."""
    hanako = accounts["hanako"]
    sieve_script_put(
        account=hanako,
        name="rules",
        activate=True,
        content=REQUIRE + 'if header :contains "subject" "figures" {\n'
        '  addflag "\\\\Seen";\n  fileinto :copy :flags ["\\\\Flagged", "$Important"] "Archive";\n}\n',
    )
    client = smtplib.SMTP(smtp_server.host, smtp_server.mx, timeout=10)
    client.sendmail("bob@remote.example", ["hanako@example.test"], MESSAGE)
    client.sendmail("bob@remote.example", ["hanako@example.test"], MESSAGE.replace(b"figures", b"hello"))
    client.quit()
    inbox = {m.subject: m for m in Message.objects.filter(folder__account=hanako, folder__name="INBOX")}
    assert inbox["quarterly figures"].flags == Flag.SEEN
    assert inbox["quarterly hello"].flags == 0
    archived = Message.objects.get(folder__account=hanako, folder__name="Archive")
    assert (archived.flags, archived.keywords) == (Flag.FLAGGED, ["$Important"])
    assert Folder.objects.get(account=hanako, name="INBOX").unseen_count == 1
    assert Folder.objects.get(account=hanako, name="Archive").unseen_count == 1
