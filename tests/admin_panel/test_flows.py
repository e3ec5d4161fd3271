"""Admin panel flows through Django's test client: domains, accounts, aliases, rules, DNS, queue, login."""

from __future__ import annotations

import pytest
from django.urls import reverse
from dnslib.server import DNSServer
from dnslib.zoneresolver import ZoneResolver

from admin_panel.models import AuditEntry
from store.models import Account, Alias, DeliveryLog, Domain, LoginEvent, QueueState, SieveScript
from tests.conftest import free_port


def test_login_records_failures_and_refuses_users(world, client):
    """Wrong passwords are logged as failed web logins; a plain user cannot enter; an admin can."""
    url = reverse("admin_panel:login")
    response = client.post(url, {"address": "root@ops.test", "password": "wrong password"})
    assert "Wrong address or password." in response.content.decode()
    assert LoginEvent.objects.filter(address="root@ops.test", success=False, protocol="web").count() == 1
    response = client.post(url, {"address": "plain@alpha.test", "password": "correct horse battery staple"})
    assert "no administration rights" in response.content.decode()
    response = client.post(url, {"address": "root@ops.test", "password": "correct horse battery staple"})
    assert response.status_code == 302 and response["Location"] == reverse("admin_panel:dashboard")
    assert AuditEntry.objects.filter(action="login", actor_address="root@ops.test").exists()


def test_login_throttled_after_many_failures(world, client):
    """After the throttle's limit of failures even the right password is refused for a while."""
    from agents.throttle import MAX_FAILURES_PER_ACCOUNT, throttle_reset

    url = reverse("admin_panel:login")
    try:
        for _ in range(MAX_FAILURES_PER_ACCOUNT):
            client.post(url, {"address": "boss@ops.test", "password": "nope-nope"})
        response = client.post(url, {"address": "boss@ops.test", "password": "correct horse battery staple"})
        assert "Too many failed attempts" in response.content.decode()
    finally:
        throttle_reset(address="boss@ops.test", client_ip="127.0.0.1")


def test_domain_lifecycle(world):
    """Create with defaults, edit with a catch-all, refuse deletion with accounts unless asked."""
    client = world.client_for("superadmin")
    response = client.post(
        reverse("admin_panel:domain_create"),
        {"name": "Gamma.TEST", "default_quota": "2G", "max_accounts": "5", "max_message_size": "20M"},
    )
    gamma = Domain.objects.get(name="gamma.test")
    assert response["Location"] == reverse("admin_panel:domain_detail", kwargs={"domain_id": gamma.pk})
    assert (gamma.default_quota, gamma.max_accounts, gamma.max_message_size) == (2 * 1024**3, 5, 20 * 1024**2)
    client.post(
        reverse("admin_panel:account_create"), {"local_part": "Gina", "domain": gamma.pk, "password": "long-enough-1"}
    )
    gina = Account.objects.get(address="gina@gamma.test")
    assert gina.quota == 2 * 1024**3
    edit = reverse("admin_panel:domain_edit", kwargs={"domain_id": gamma.pk})
    client.post(edit, {"active": "on", "default_quota": "1G", "max_accounts": "5", "catch_all": "gina@gamma.test"})
    assert Alias.objects.get(source="@gamma.test").destinations == ["gina@gamma.test"]
    delete = reverse("admin_panel:domain_delete", kwargs={"domain_id": gamma.pk})
    page = client.get(delete).content.decode()
    assert "1 account" in page and "1 alias" in page
    response = client.post(delete, {"confirm_name": "gamma.test"})
    assert "still has 1 accounts" in response.content.decode()
    assert Domain.objects.filter(name="gamma.test").exists()
    response = client.post(delete, {"confirm_name": "gamma.test", "remove_mail": "on"})
    assert response.status_code == 302
    assert not Domain.objects.filter(name="gamma.test").exists()
    assert not Account.objects.filter(address="gina@gamma.test").exists()


def test_domain_admin_edits_catch_all_but_not_limits(world):
    """A domain admin's post of new limits is ignored (fields disabled); the catch-all is saved."""
    client = world.client_for("admin_alpha")
    edit = reverse("admin_panel:domain_edit", kwargs={"domain_id": world.alpha.pk})
    client.post(edit, {"active": "", "max_accounts": "999", "catch_all": "alice@alpha.test"})
    world.alpha.refresh_from_db()
    assert world.alpha.active and world.alpha.max_accounts == 0
    assert Alias.objects.get(source="@alpha.test").destinations == ["alice@alpha.test"]


def test_account_create_shows_generated_password_once(world):
    """An empty password is generated, shown in the response, and works for authentication."""
    from django.contrib.auth import authenticate

    client = world.client_for("admin_alpha")
    response = client.post(
        reverse("admin_panel:account_create"),
        {"local_part": "newbie", "domain": world.alpha.pk, "display_name": "New", "quota": "500M"},
    )
    body = response.content.decode()
    password = body.split('id="new-password">')[1].split("<")[0]
    assert authenticate(None, username="newbie@alpha.test", password=password) is not None
    assert Account.objects.get(address="newbie@alpha.test").quota == 500 * 1024**2
    detail = reverse(
        "admin_panel:account_detail", kwargs={"account_id": Account.objects.get(address="newbie@alpha.test").pk}
    )
    assert password not in client.get(detail).content.decode()


def test_account_edit_quota_and_disable(world):
    client = world.client_for("admin_alpha")
    url = reverse("admin_panel:account_detail", kwargs={"account_id": world.alpha_user.pk})
    client.post(url, {"display_name": "Alice A.", "quota": "3G"})
    world.alpha_user.refresh_from_db()
    assert (world.alpha_user.display_name, world.alpha_user.quota, world.alpha_user.is_active) == (
        "Alice A.", 3 * 1024**3, False,
    )  # fmt: skip
    response = client.post(url, {"quota": "lots"})
    assert "Enter a size such as 500M or 2G." in response.content.decode()


def test_ldap_account_is_read_only(world):
    """An LDAP account's form is disabled and a post does not change it."""
    from store.services import account_create

    ldap = account_create(address="dir@alpha.test", password=None, source="ldap")
    client = world.client_for("admin_alpha")
    url = reverse("admin_panel:account_detail", kwargs={"account_id": ldap.pk})
    assert "read-only" in client.get(url).content.decode()
    client.post(url, {"display_name": "changed", "quota": "1M"})
    ldap.refresh_from_db()
    assert ldap.display_name == ""


def test_alias_loop_refused_with_message(world):
    """An alias that would loop is refused and the error names the loop next to the field."""
    client = world.client_for("admin_alpha")
    client.post(
        reverse("admin_panel:alias_create"),
        {"source": "a@alpha.test", "destinations": "sales@alpha.test", "active": "on"},
    )
    response = client.post(
        reverse("admin_panel:alias_edit", kwargs={"alias_id": world.alpha_alias.pk}),
        {"destinations": "a@alpha.test", "active": "on"},
    )
    assert "This alias would make a loop" in response.content.decode()
    assert Alias.objects.get(source="sales@alpha.test").destinations == ["alice@alpha.test"]


def test_rule_builder_makes_valid_active_script(world):
    """The builder writes a Sieve script the MDA parser accepts, and it becomes active."""
    from agents.mda.sieve import sieve_validate

    client = world.client_for("admin_alpha")
    url = reverse("admin_panel:rule_builder", kwargs={"kind": "account", "owner_id": world.alpha_user.pk})
    response = client.post(
        url,
        {
            "name": "Invoices", "match": "anyof",
            "cond0_field": "subject", "cond0_op": "contains", "cond0_value": 'Invoice "Q1"',
            "cond1_field": "from", "cond1_op": "is", "cond1_value": "billing@vendor.example",
            "act0_type": "fileinto", "act0_value": "Finance/Invoices", "act1_type": "stop",
        },
    )  # fmt: skip
    assert response.status_code == 302
    script = SieveScript.objects.get(account=world.alpha_user, name="rules")
    assert script.active and sieve_validate(script.content) is None
    assert 'header :contains "subject" "Invoice \\"Q1\\""' in script.content
    assert 'fileinto :create "Finance/Invoices";' in script.content
    page = client.get(reverse("admin_panel:owner_rules", kwargs={"kind": "account", "owner_id": world.alpha_user.pk}))
    assert "Invoices" in page.content.decode()


def test_rule_builder_errors_next_to_fields(world):
    client = world.client_for("admin_alpha")
    url = reverse("admin_panel:rule_builder", kwargs={"kind": "domain", "owner_id": world.alpha.pk})
    response = client.post(
        url, {"name": "x", "match": "allof", "cond0_field": "size", "cond0_op": "contains", "cond0_value": "1M"}
    )
    body = response.content.decode()
    assert "A size is compared with" in body and "Choose at least one action." in body


def test_raw_script_error_shows_line(world):
    """A raw script with a syntax error is not saved; the parser's error with its line is shown."""
    client = world.client_for("admin_alpha")
    url = reverse("admin_panel:script_create", kwargs={"kind": "account", "owner_id": world.alpha_user.pk})
    response = client.post(
        url, {"name": "broken", "content": 'require ["fileinto"];\nif header :is "x" {\n', "active": "on"}
    )
    assert "line" in response.content.decode()
    assert not SieveScript.objects.filter(name="broken").exists()
    response = client.post(
        url, {"name": "good", "content": 'require ["fileinto"];\nfileinto "Archive";\n', "active": "on"}
    )
    assert response.status_code == 302
    assert SieveScript.objects.get(name="good", account=world.alpha_user).active


def test_queue_actions(world):
    """Hold, release, retry and bounce go through the queue services; each is audited."""
    client = world.client_for("admin_alpha")
    outbound = world.alpha_queued
    for action, state in (("hold", QueueState.HELD), ("release", QueueState.QUEUED), ("retry", QueueState.QUEUED)):
        client.post(reverse("admin_panel:queue_action", kwargs={"outbound_id": outbound.pk, "action": action}))
        assert list(outbound.recipients.values_list("state", flat=True)) == [state]
    bounce = reverse("admin_panel:queue_action", kwargs={"outbound_id": outbound.pk, "action": "bounce"})
    client.post(bounce, {})
    assert list(outbound.recipients.values_list("state", flat=True)) == [QueueState.QUEUED]
    client.post(bounce, {"confirm": "on"})
    assert list(outbound.recipients.values_list("state", flat=True)) == [QueueState.BOUNCED]
    assert DeliveryLog.objects.filter(queue_id=outbound.pk, event="bounced").exists()
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {"queue.hold", "queue.release", "queue.bounce"}
    page = client.get(reverse("admin_panel:queue_detail", kwargs={"outbound_id": outbound.pk})).content.decode()
    assert "Quarterly report" in page and "Bounced by the postmaster" in page


def test_tracking_finds_message_and_path(world):
    """Search by Message-ID finds the lines; the path view shows every step of that message."""
    client = world.client_for("admin_alpha")
    response = client.get(reverse("admin_panel:tracking_search"), {"message_id": "report-1@alpha.test"})
    body = response.content.decode()
    assert "bob@remote.example" in body
    path = client.get(reverse("admin_panel:tracking_path", kwargs={"log_id": world.alpha_log_id})).content.decode()
    assert "Received" in path and "Queued for relay" in path and "192.0.2.7" in path


def test_dashboard_chart_from_log(world):
    """The hourly chart is an SVG whose bars carry the counts of the delivery log."""
    body = world.client_for("superadmin").get(reverse("admin_panel:dashboard")).content.decode()
    assert "<svg" in body and "received: 1" in body and "sent: 1" in body


@pytest.fixture
def dns_server(settings):
    """A real DNS server on loopback (dnslib) serving alpha.test's zone; the panel's resolver uses it."""
    from store.models import DkimKey

    key = DkimKey.objects.get(domain__name="alpha.test", active=True)
    zone = f"""
mail.test. 300 IN A 192.0.2.25
alpha.test. 300 IN MX 10 mail.test.
alpha.test. 300 IN TXT "v=spf1 +all"
{key.selector}._domainkey.alpha.test. 300 IN TXT "{key.public_record}"
_dmarc.alpha.test. 300 IN TXT "v=DMARC1; p=reject"
autoconfig.alpha.test. 300 IN CNAME mail.test.
_imaps._tcp.alpha.test. 300 IN SRV 0 1 {settings.YUBIN_PORT_IMAPS} mail.test.
"""
    port = free_port()
    server = DNSServer(ZoneResolver(zone), port=port, address="127.0.0.1")
    server.start_thread()
    settings.YUBIN_DNS_RESOLVERS = f"127.0.0.1:{port}"
    yield
    server.stop()


def test_dns_page_checks_live_records(world, dns_server):
    """Each record is marked right, wrong (with what was found) or missing from a real DNS lookup."""
    from admin_panel.dns_records import records_check, records_for

    records = {r.purpose: r for r in records_check(records_for(world.alpha))}
    assert records["MX"].status == "ok"
    assert records["SPF"].status == "wrong" and records["SPF"].found == ["v=spf1 +all"]
    assert records["DKIM"].status == "ok"
    assert records["DMARC"].status == "ok"
    assert records["Thunderbird autoconfig"].status == "ok"
    assert records["IMAP (TLS)"].status == "ok"
    assert records["MTA-STS"].status == "missing"
    assert records["Mail host address"].status == "ok"
    page = world.client_for("admin_alpha").get(
        reverse("admin_panel:domain_dns", kwargs={"domain_id": world.alpha.pk}), {"check": "1"}
    )
    assert "v=spf1 +all" in page.content.decode()


def test_dkim_rotation_from_page(world):
    client = world.client_for("admin_alpha")
    old = world.alpha_key
    client.post(reverse("admin_panel:dkim_generate", kwargs={"domain_id": world.alpha.pk}), {"algorithm": "rsa"})
    old.refresh_from_db()
    assert not old.active
    new = world.alpha.dkim_keys.get(active=True)
    assert new.algorithm == "rsa"
    page = client.get(reverse("admin_panel:domain_dns", kwargs={"domain_id": world.alpha.pk})).content.decode()
    assert new.selector in page and old.selector in page


def test_account_list_domain_filter_that_is_no_number(world):
    """A domain filter that is not a number (the digits of another script included) filters
    nothing and is no server error."""
    client = world.client_for("admin_alpha")
    for value in ("²", "x", ""):
        assert client.get(reverse("admin_panel:account_list"), {"domain": value}).status_code == 200
