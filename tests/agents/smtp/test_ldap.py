"""LDAP accounts: an account that exists only in a real OpenLDAP slapd authenticates on submission
and receives mail at its `mail` address (django-auth-ldap through store.auth.LdapAccountBackend)."""

from __future__ import annotations

import shutil
import smtplib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from store.models import Account, Message
from tests.agents.smtp.conftest import SmtpPorts, client_tls
from tests.conftest import free_port

pytestmark = pytest.mark.skipif(shutil.which("slapd") is None and not Path("/usr/sbin/slapd").exists(), reason="slapd")

SUFFIX = "dc=yubin,dc=test"
LDAP_PASSWORD = "ldap secret 42"

CONFIG = """dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {root}/slapd.pid

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {root}/db
olcSuffix: {suffix}
olcRootDN: cn=admin,{suffix}
olcRootPW: admin secret
olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to * by * read
"""

DATA = """dn: {suffix}
objectClass: dcObject
objectClass: organization
dc: yubin
o: Yubin test

dn: ou=people,{suffix}
objectClass: organizationalUnit
ou: people

dn: uid=saburo,ou=people,{suffix}
objectClass: inetOrgPerson
uid: saburo
cn: Saburo Suzuki
sn: Suzuki
mail: saburo@example.test
userPassword: {password}
"""


@pytest.fixture
def slapd(tmp_path: Path, settings: Any) -> Iterator[str]:
    root = tmp_path / "ldap"
    (root / "slapd.d").mkdir(parents=True)
    (root / "db").mkdir()
    (root / "config.ldif").write_text(CONFIG.format(root=root, suffix=SUFFIX))
    (root / "data.ldif").write_text(DATA.format(suffix=SUFFIX, password=LDAP_PASSWORD))
    subprocess.run(["slapadd", "-n0", "-F", str(root / "slapd.d"), "-l", str(root / "config.ldif")], check=True)
    subprocess.run(["slapadd", "-n1", "-F", str(root / "slapd.d"), "-l", str(root / "data.ldif")], check=True)
    port = free_port()
    uri = f"ldap://127.0.0.1:{port}"
    process = subprocess.Popen(["slapd", "-d", "0", "-h", uri + "/", "-F", str(root / "slapd.d")])
    for _ in range(100):
        if (
            subprocess.run(["ldapsearch", "-x", "-H", uri, "-b", SUFFIX, "-s", "base"], capture_output=True).returncode
            == 0
        ):
            break
        time.sleep(0.1)
    import ldap
    from django_auth_ldap.config import LDAPSearch

    settings.AUTHENTICATION_BACKENDS = ["store.auth.LdapAccountBackend", "store.auth.AccountBackend"]
    settings.AUTH_LDAP_SERVER_URI = uri
    settings.AUTH_LDAP_BIND_DN = ""
    settings.AUTH_LDAP_BIND_PASSWORD = ""
    settings.AUTH_LDAP_USER_SEARCH = LDAPSearch(f"ou=people,{SUFFIX}", ldap.SCOPE_SUBTREE, "(mail=%(user)s)")
    settings.AUTH_LDAP_USER_ATTR_MAP = {"display_name": "cn"}
    yield uri
    process.terminate()
    process.wait(10)


def test_ldap_account_submits_and_receives(smtp_server: SmtpPorts, accounts: Any, slapd: str) -> None:
    """saburo exists only in LDAP: AUTH on 587 works, the Account appears (source ldap), mail arrives."""
    assert not Account.objects.filter(address="saburo@example.test").exists()
    client = smtplib.SMTP(smtp_server.host, smtp_server.submission, timeout=10)
    client.starttls(context=client_tls())
    client.login("saburo@example.test", LDAP_PASSWORD)
    client.sendmail("saburo@example.test", ["saburo@example.test"], b"Subject: to myself\r\n\r\nhi\r\n")
    client.quit()
    account = Account.objects.get(address="saburo@example.test")
    assert account.source == "ldap" and account.display_name == "Saburo Suzuki"
    assert not account.has_usable_password()
    assert Message.objects.get(folder__account=account).subject == "to myself"


def test_ldap_wrong_password_refused(smtp_server: SmtpPorts, accounts: Any, slapd: str) -> None:
    """A wrong LDAP password is 535; database accounts still authenticate next to LDAP."""
    client = smtplib.SMTP(smtp_server.host, smtp_server.submission, timeout=10)
    client.starttls(context=client_tls())
    with pytest.raises(smtplib.SMTPAuthenticationError):
        client.login("saburo@example.test", "wrong")
    client.login("taro@example.test", "correct horse battery staple")
    client.quit()
