"""A script put over ManageSieve is the one the MDA runs: upload, activate, deliver, see it filed."""

from __future__ import annotations

import pytest

from tests.agents.managesieve.conftest import ADDRESS

pytestmark = pytest.mark.filterwarnings("ignore:Credentials are sent over an unencrypted connection")

RULE = 'require ["fileinto"];\r\nif header :contains "Subject" "[yubin-list]" {\r\n  fileinto "Lists";\r\n}\r\n'


def deliver(raw: bytes) -> None:
    from django.db import transaction

    from agents.mda.deliver import DeliveryJob, RecipientPlan, jobs_deliver
    from store.selectors.smtp import recipient_resolve

    resolution = recipient_resolve(ADDRESS)
    plan = RecipientPlan(address=ADDRESS, accounts=resolution.accounts)
    with transaction.atomic():
        jobs_deliver([DeliveryJob(raw=raw, sender="list@example.org", recipients=[plan])])


def folder_of(account, subject: str) -> str:
    from store.models import Message

    return Message.objects.select_related("folder").get(folder__account=account, subject=subject).folder.name


def test_uploaded_and_activated_script_files_the_next_mail(sieve_server, account):
    """PUTSCRIPT + SETACTIVE over ManageSieve, then delivery files matching mail as the rule says;
    after SETACTIVE "" the same mail stays in INBOX."""
    from store.services import folder_create

    folder_create(account=account, name="Lists")
    client = sieve_server.login()
    assert client.putscript("lists", RULE)
    assert client.setactive("lists")
    deliver(b"From: list@example.org\r\nTo: sieve@example.test\r\nSubject: [yubin-list] one\r\n\r\nhi\r\n")
    deliver(b"From: friend@example.org\r\nTo: sieve@example.test\r\nSubject: personal\r\n\r\nhi\r\n")
    assert folder_of(account, "[yubin-list] one") == "Lists"
    assert folder_of(account, "personal") == "INBOX"
    assert client.setactive("")
    deliver(b"From: list@example.org\r\nTo: sieve@example.test\r\nSubject: [yubin-list] two\r\n\r\nhi\r\n")
    assert folder_of(account, "[yubin-list] two") == "INBOX"
    client.logout()
