"""Sieve scripts with their expected folders: the pure interpreter, then real delivery over the MX."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest

from agents.mda.deliver import sieve_input
from agents.mda.sieve import sieve_parse, sieve_run, sieve_validate
from store.models import Folder, Message, OutboundRecipient, SieveScript
from store.services.sieve import sieve_script_put

MESSAGE = (
    b"From: =?UTF-8?B?5bGx55Sw?= <yamada@lists.example>\r\n"
    b"To: hanako@example.test, team@example.test\r\n"
    b"Subject: [ml] Weekly report\r\n"
    b"List-Id: <ml.lists.example>\r\n"
    b"X-Spam: YES\r\n"
    b"Message-ID: <r1@lists.example>\r\n\r\nbody\r\n"
)


def folders_for(script: str, raw: bytes = MESSAGE, sender: str = "bounce@lists.example") -> list[str]:
    message = sieve_input(raw, size=len(raw), envelope_from=sender, envelope_to="hanako@example.test")
    result = sieve_run([sieve_parse(script)], message)
    return [target.folder for target in result.folders]


CASES = [
    ("keep;", ["INBOX"]),
    ("discard;", []),
    ('require "fileinto"; fileinto "Lists";', ["Lists"]),
    ('require ["fileinto","copy"]; fileinto :copy "Lists";', ["INBOX", "Lists"]),
    ('require "fileinto"; if header :contains "subject" "[ml]" { fileinto "ML"; }', ["ML"]),
    ('require "fileinto"; if header :is "subject" "[ML] WEEKLY REPORT" { fileinto "ML"; }', ["ML"]),
    (
        'require ["fileinto","comparator-i;octet"]; '
        'if header :comparator "i;octet" :is "subject" "[ML] WEEKLY REPORT" { fileinto "ML"; }',
        ["INBOX"],
    ),
    ('require "fileinto"; if header :matches "subject" "*weekly*" { fileinto "W"; }', ["W"]),
    ('require "fileinto"; if header :matches "subject" "?ml? Weekly report" { fileinto "Q"; }', ["Q"]),
    ('require "fileinto"; if header :contains "from" "山田" { fileinto "JP"; }', ["JP"]),
    ('require "fileinto"; if address :domain :is "from" "LISTS.example" { fileinto "D"; }', ["D"]),
    ('require "fileinto"; if address :localpart :is "to" "team" { fileinto "T"; }', ["T"]),
    ('require ["fileinto","envelope"]; if envelope :localpart :is "from" "bounce" { fileinto "E"; }', ["E"]),
    ('require ["fileinto","envelope"]; if envelope :is "to" "hanako@example.test" { fileinto "E"; }', ["E"]),
    ('require "fileinto"; if exists ["list-id", "x-spam"] { fileinto "X"; }', ["X"]),
    ('require "fileinto"; if exists ["list-id", "x-nope"] { fileinto "X"; }', ["INBOX"]),
    ('require "fileinto"; if size :over 100 { fileinto "Big"; }', ["Big"]),
    ('require "fileinto"; if size :under 1K { fileinto "Small"; }', ["Small"]),
    ('require "fileinto"; if allof (true, header :contains "x-spam" "yes") { fileinto "Junk"; }', ["Junk"]),
    ('require "fileinto"; if anyof (false, not true) { fileinto "No"; }', ["INBOX"]),
    ('require "fileinto"; if false { fileinto "A"; } elsif true { fileinto "B"; } else { fileinto "C"; }', ["B"]),
    ('require "fileinto"; if false { fileinto "A"; } elsif false { fileinto "B"; } else { fileinto "C"; }', ["C"]),
    ('require "fileinto"; fileinto "A"; stop; fileinto "B";', ["A"]),
    ('require "fileinto"; fileinto "A"; fileinto "A"; keep;', ["INBOX", "A"]),
    ('redirect "x@remote.example";', []),
    ('require "copy"; redirect :copy "x@remote.example";', ["INBOX"]),
]


@pytest.mark.parametrize(("script", "expected"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_script_files_into_expected_folders(script: str, expected: list[str]) -> None:
    """Each script sends the sample mailing-list message to exactly the expected folders."""
    assert folders_for(script) == expected


def test_domain_stop_ends_account_script() -> None:
    """Domain rules run first; their `stop` prevents the account's script (Pigeonhole sieve_before)."""
    message = sieve_input(MESSAGE, size=len(MESSAGE), envelope_from="a@b.example", envelope_to="h@example.test")
    domain = sieve_parse('require "fileinto"; fileinto "Quarantine"; stop;')
    account = sieve_parse('require "fileinto"; fileinto "Mine";')
    assert [t.folder for t in sieve_run([domain, account], message).folders] == ["Quarantine"]
    domain = sieve_parse('require "fileinto"; if false { stop; }')
    assert [t.folder for t in sieve_run([domain, account], message).folders] == ["Mine"]


def send(ports: Any, raw: bytes, sender: str = "bob@remote.example", rcpt: str = "hanako@example.test") -> None:
    client = smtplib.SMTP(ports.host, ports.mx, timeout=10)
    client.sendmail(sender, [rcpt], raw)
    client.quit()


def rules_put(account: Any, content: str) -> None:
    sieve_script_put(account=account, name="rules", activate=True, content=content)


def test_fileinto_create_over_smtp(smtp_server: Any, accounts: Any) -> None:
    """fileinto :create makes the folder; without :create a missing folder means INBOX."""
    hanako = accounts["hanako"]
    rules_put(
        hanako,
        'require ["fileinto","mailbox"];\n'
        'if header :contains "subject" "report" { fileinto :create "Lists/ML"; }\n'
        'elsif header :contains "subject" "nope" { fileinto "Missing"; }\n',
    )
    send(smtp_server, MESSAGE)
    send(smtp_server, MESSAGE.replace(b"Weekly report", b"nope"))
    assert Message.objects.get(folder__account=hanako, folder__name="Lists/ML").subject == "[ml] Weekly report"
    assert Message.objects.get(folder__account=hanako, folder__name="INBOX").subject == "[ml] nope"
    assert not Folder.objects.filter(account=hanako, name="Missing").exists()


def test_mailboxexists_parses_only_with_mailbox() -> None:
    assert sieve_validate('require "mailbox"; if mailboxexists "Archive" { keep; }') is None
    assert sieve_validate('if mailboxexists "Archive" { keep; }') is not None


def test_mailboxexists_over_smtp(smtp_server: Any, accounts: Any) -> None:
    """RFC 5490 §3.1: true only when every named folder exists; INBOX by any case, other names exactly."""
    hanako = accounts["hanako"]
    tests = ['"Archive"', '["Archive", "Nope"]', '"inbox"', '"archive"']
    targets = ["Archive", "Both", "Sent", "Drafts"]  # folders that exist, but for "Both"
    lines = [f"if mailboxexists {test} {{ fileinto :copy {target!r}; }}" for test, target in zip(tests, targets)]
    rules_put(hanako, 'require ["mailbox", "fileinto", "copy"];\n' + "\n".join(lines).replace("'", '"'))
    send(smtp_server, MESSAGE)
    folders = sorted(Message.objects.filter(folder__account=hanako).values_list("folder__name", flat=True))
    assert folders == ["Archive", "INBOX", "Sent"]


def test_broken_script_delivers_to_inbox_and_records_error(smtp_server: Any, accounts: Any) -> None:
    """A script that no longer parses never loses mail: INBOX, and last_error says why."""
    hanako = accounts["hanako"]
    script = sieve_script_put(account=hanako, name="bad", activate=True, content="keep;")
    SieveScript.objects.filter(pk=script.pk).update(content='fileinto "x";')  # stored before a validator existed
    send(smtp_server, MESSAGE)
    assert Message.objects.get(folder__account=hanako).folder.name == "INBOX"
    assert "line 1" in SieveScript.objects.get(pk=script.pk).last_error


def test_redirect_and_vacation(smtp_server: Any, accounts: Any) -> None:
    """redirect queues a remote copy; vacation answers a person once per period, never a list."""
    hanako = accounts["hanako"]
    sieve_script_put(
        account=hanako,
        name="away",
        activate=True,
        content='require ["vacation","copy"];\nredirect :copy "backup@remote.example";\n'
        'vacation :days 3 :subject "Away" "I am away until Monday.";\n',
    )
    personal = (
        b"From: bob@remote.example\r\nTo: hanako@example.test\r\nSubject: lunch?\r\nMessage-ID: <p1@x>\r\n\r\nhi\r\n"
    )
    send(smtp_server, personal)
    send(smtp_server, personal)
    send(smtp_server, MESSAGE)  # a list message: redirected but never answered
    addresses = sorted(OutboundRecipient.objects.values_list("address", flat=True))
    assert addresses == ["backup@remote.example"] * 3 + ["bob@remote.example"]
    reply = OutboundRecipient.objects.get(address="bob@remote.example").message
    assert reply.sender == ""
    from store.blobs import blob_read

    raw = blob_read(reply.blob_id)
    assert b"Auto-Submitted: auto-replied" in raw and b"In-Reply-To: <p1@x>" in raw and b"Subject: Away" in raw
    assert Message.objects.filter(folder__account=hanako, folder__name="INBOX").count() == 3
