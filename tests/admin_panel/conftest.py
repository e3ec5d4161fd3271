"""Fixtures of the admin panel tests: two domains, one account of each role, signed-in clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from admin_panel.rule_builder import Action, Condition, Rule, rules_to_script
from store.models import Account, Alias, DkimKey, Domain, OutboundMessage, Role, SieveScript
from store.services import account_admin_domains_set, account_create, alias_create, domain_create
from store.services.dkim import dkim_key_generate
from store.services.log import log_record
from store.services.queue import QueueRecipient, queue_enqueue
from store.services.sieve import sieve_script_put

PASSWORD = "correct horse battery staple"
RAW = (
    b"From: Alice <alice@alpha.test>\r\nTo: Remote <bob@remote.example>\r\nSubject: Quarterly report\r\n"
    b"Message-ID: <report-1@alpha.test>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\nHello Bob.\r\n"
)


@dataclass
class World:
    alpha: Domain
    beta: Domain
    superadmin: Account
    admin_alpha: Account
    admin_beta: Account
    user: Account
    alpha_user: Account
    beta_user: Account
    alpha_alias: Alias
    alpha_domain_script: SieveScript
    alpha_account_script: SieveScript
    alpha_key: DkimKey
    alpha_queued: OutboundMessage
    alpha_log_id: int

    def client_for(self, role: str) -> Client:
        client = Client()
        account = {
            "superadmin": self.superadmin,
            "admin_alpha": self.admin_alpha,
            "admin_beta": self.admin_beta,
            "user": self.user,
        }.get(role)
        if account is not None:
            client.force_login(account)
        return client


def build_world() -> World:
    alpha = domain_create(name="alpha.test")
    beta = domain_create(name="beta.test")
    ops = domain_create(name="ops.test")
    superadmin = account_create(address="root@ops.test", password=PASSWORD, role=Role.SUPERADMIN)
    admin_alpha = account_create(address="boss@ops.test", password=PASSWORD, role=Role.DOMAIN_ADMIN)
    account_admin_domains_set(account=admin_alpha, domains=[alpha])
    admin_beta = account_create(address="chief@ops.test", password=PASSWORD, role=Role.DOMAIN_ADMIN)
    account_admin_domains_set(account=admin_beta, domains=[beta])
    user = account_create(address="plain@alpha.test", password=PASSWORD)
    alpha_user = account_create(address="alice@alpha.test", password=PASSWORD, display_name="Alice Alpha")
    beta_user = account_create(address="bert@beta.test", password=PASSWORD)
    alias = alias_create(source="sales@alpha.test", destinations=["alice@alpha.test"])
    domain_script = sieve_script_put(
        name="spam", content='require ["fileinto"];\nif header :contains "x-spam" "yes" { fileinto "Junk"; }\n',
        domain=alpha, activate=True,
    )  # fmt: skip
    builder_rules = [Rule(name="Lists", conditions=[Condition("list-id", "contains", "alpha")],
                          actions=[Action("fileinto", "Lists")])]  # fmt: skip
    sieve_script_put(name="rules", content=rules_to_script(builder_rules), domain=alpha)
    account_script = sieve_script_put(name="mine", content="keep;\n", account=alpha_user)
    key = dkim_key_generate(domain=alpha, algorithm="ed25519")
    queued = queue_enqueue(raw=RAW, sender="alice@alpha.test", recipients=[QueueRecipient("bob@remote.example")])
    line = log_record(
        event="received", sender="alice@alpha.test", recipient="bob@remote.example",
        message_id="<report-1@alpha.test>", client_ip="192.0.2.7", size=len(RAW),
    )  # fmt: skip
    assert ops.pk
    return World(
        alpha=alpha, beta=beta, superadmin=superadmin, admin_alpha=admin_alpha, admin_beta=admin_beta, user=user,
        alpha_user=alpha_user, beta_user=beta_user, alpha_alias=alias, alpha_domain_script=domain_script,
        alpha_account_script=account_script, alpha_key=key, alpha_queued=queued, alpha_log_id=line.pk,
    )  # fmt: skip


@pytest.fixture
def world(db: Any) -> World:
    return build_world()
