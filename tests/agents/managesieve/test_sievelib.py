"""sievelib's ManageSieve client against the real server: every command it has (RFC 5804 §2)."""

from __future__ import annotations

import pytest

from tests.agents.managesieve.conftest import ADDRESS
from tests.conftest import PASSWORD

pytestmark = pytest.mark.filterwarnings("ignore:Credentials are sent over an unencrypted connection")

RULES = 'require ["fileinto"];\r\nif header :contains "Subject" "[list]" {\r\n  fileinto "Lists";\r\n}\r\n'
VACATION = 'require "vacation";\r\nvacation :days 3 :subject "Away" "I am away until Monday.";\r\n'
BROKEN = 'require ["fileinto"];\r\nif header :contains "Subject" {\r\n  fileinto "Lists";\r\n}\r\n'
UNKNOWN_EXTENSION = 'require ["variables"];\r\nset "x" "y";\r\n'


def as_returned(script: str) -> str:
    """sievelib's getscript() joins the lines with LF and drops the last line end."""
    return "\n".join(script.splitlines())


def stored(account) -> dict[str, tuple[str, bool]]:
    from store.models import SieveScript

    return {s.name: (s.content, s.active) for s in SieveScript.objects.filter(account=account)}


def test_capabilities(sieve_server, account):
    """The greeting lists IMPLEMENTATION, SASL PLAIN and OAUTHBEARER, the MDA's Sieve extensions,
    STARTTLS and VERSION 1.0."""
    from agents.mda.sieve import SUPPORTED_EXTENSIONS

    client = sieve_server.login()
    assert client.get_implementation() == "Yubin"
    assert client.get_sasl_mechanisms() == ["PLAIN", "OAUTHBEARER"]
    assert sorted(client.get_sieve_capabilities()) == sorted(SUPPORTED_EXTENSIONS)
    assert client.has_tls_support()
    capabilities = client.capability()
    assert b'"VERSION" "1.0"' in capabilities and b'"UNAUTHENTICATE"' in capabilities
    client.logout()


def test_wrong_password(sieve_server, account):
    """A wrong password is refused with NO; connect() reports failure."""
    client = sieve_server.client()
    assert not client.connect(ADDRESS, "wrong", authmech="PLAIN")


def test_put_list_get_activate_delete(sieve_server, account):
    """PUTSCRIPT stores, LISTSCRIPTS lists with the active mark, GETSCRIPT returns it byte-exact,
    SETACTIVE switches, DELETESCRIPT refuses the active one and removes an inactive one."""
    client = sieve_server.login()
    assert client.listscripts() == (None, [])
    assert client.putscript("rules", RULES)
    assert client.putscript("vacation", VACATION)
    assert client.listscripts() == (None, ["rules", "vacation"])
    assert client.getscript("rules") == as_returned(RULES)
    assert client.setactive("rules")
    assert client.listscripts() == ("rules", ["vacation"])
    assert stored(account)["rules"] == (RULES, True)
    assert client.setactive("vacation")
    assert client.listscripts() == ("vacation", ["rules"])
    assert not client.deletescript("vacation")
    assert b"active" in client.errmsg.lower()
    assert client.deletescript("rules")
    assert client.setactive("")
    assert client.listscripts() == (None, ["vacation"])
    assert client.deletescript("vacation")
    assert stored(account) == {}
    client.logout()


def test_putscript_replaces_and_keeps_active(sieve_server, account):
    """PUTSCRIPT of an existing name replaces its content; an active script stays active."""
    client = sieve_server.login()
    client.putscript("main", RULES)
    client.setactive("main")
    assert client.putscript("main", VACATION)
    assert stored(account)["main"] == (VACATION, True)
    client.logout()


def test_invalid_scripts_are_refused(sieve_server, account):
    """PUTSCRIPT and CHECKSCRIPT refuse what the MDA's parser refuses, saying the line; nothing is stored."""
    client = sieve_server.login()
    assert not client.putscript("broken", BROKEN)
    assert client.errmsg.startswith(b"line ")
    assert not client.checkscript(BROKEN)
    assert not client.putscript("flags", UNKNOWN_EXTENSION)
    assert client.checkscript(RULES)
    assert stored(account) == {}
    client.logout()


def test_missing_scripts(sieve_server, account):
    """GETSCRIPT, SETACTIVE, DELETESCRIPT and RENAMESCRIPT of unknown names fail (NONEXISTENT)."""
    client = sieve_server.login()
    assert client.getscript("nope") is None
    assert not client.setactive("nope")
    assert not client.deletescript("nope")
    assert not client.renamescript("nope", "other")
    client.logout()


def test_renamescript(sieve_server, account):
    """RENAMESCRIPT keeps content and active state; renaming onto an existing name is refused."""
    client = sieve_server.login()
    client.putscript("one", RULES)
    client.putscript("two", VACATION)
    client.setactive("one")
    assert client.renamescript("one", "uno")
    assert client.listscripts() == ("uno", ["two"])
    assert not client.renamescript("uno", "two")
    assert stored(account)["uno"] == (RULES, True)
    client.logout()


def test_havespace(sieve_server, account):
    """HAVESPACE says yes for a normal script, no beyond the size limit."""
    from store.services.sieve import MAX_SCRIPT_SIZE

    client = sieve_server.login()
    assert client.havespace("rules", 1000)
    assert not client.havespace("rules", MAX_SCRIPT_SIZE + 1)
    client.logout()


def test_japanese_script_name_and_content(sieve_server, account):
    """Names and scripts are UTF-8 (RFC 5804 §1.6)."""
    script = 'require ["fileinto"];\r\nif header :contains "Subject" "請求書" {\r\n  fileinto "経理";\r\n}\r\n'
    client = sieve_server.login()
    assert client.putscript("振り分け", script)
    assert client.listscripts() == (None, ["振り分け"])
    assert client.getscript("振り分け") == as_returned(script)
    client.logout()


def test_starttls_then_plain(sieve_server, account, settings, trust_server_certificate):
    """Off loopback rules: no SASL before TLS; after STARTTLS the capabilities come again and PLAIN works."""
    settings.YUBIN_ALLOW_PLAINTEXT_LOOPBACK = False
    plain = sieve_server.client()
    assert not plain.connect(ADDRESS, PASSWORD, authmech="PLAIN")  # SASL list is empty without TLS
    client = sieve_server.client()
    assert client.connect(ADDRESS, PASSWORD, starttls=True, authmech="PLAIN")
    assert not client.has_tls_support()  # re-sent capabilities no longer offer STARTTLS
    assert client.putscript("rules", RULES)
    client.logout()


def test_oauthbearer_with_webmail_token(sieve_server, account):
    """OAUTHBEARER with a token from store.services.tokens logs in; a wrong token does not."""
    from store.services.tokens import token_issue

    token = token_issue(account=account)
    client = sieve_server.client()
    assert client.connect(ADDRESS, token, authmech="OAUTHBEARER")
    assert client.listscripts() == (None, [])
    client.logout()
    bad = sieve_server.client()
    assert not bad.connect(ADDRESS, "not-a-token", authmech="OAUTHBEARER")


def test_oauthbearer_token_of_another_account(sieve_server, account, make_account):
    """A token is bound to its account: presenting it for another address fails."""
    from store.services.tokens import token_issue

    other = make_account("other@example.test")
    token = token_issue(account=other)
    client = sieve_server.client()
    assert not client.connect(ADDRESS, token, authmech="OAUTHBEARER")


def test_scripts_are_per_account(sieve_server, account, make_account):
    """One account never sees another's scripts."""
    make_account("neighbour@example.test")
    first = sieve_server.login()
    first.putscript("mine", RULES)
    first.logout()
    second = sieve_server.login("neighbour@example.test")
    assert second.listscripts() == (None, [])
    assert second.getscript("mine") is None
    second.logout()
