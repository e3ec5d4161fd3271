"""Client autoconfiguration: Thunderbird's config-v1.1.xml, Outlook's autodiscover, .mobileconfig, MTA-STS."""

from __future__ import annotations

import plistlib
import xml.etree.ElementTree as ET

import pytest
from django.conf import settings

from admin_panel.autoconfig import mobileconfig

RESPONSE_NS = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}"
OUTLOOK_NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
REQUEST = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">\n'
    "  <Request>\n    <EMailAddress>{address}</EMailAddress>\n"
    "    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
    "</AcceptableResponseSchema>\n  </Request>\n</Autodiscover>\n"
)


@pytest.mark.parametrize("path", ["/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"])
def test_thunderbird_config(world, client, path):
    """The document has Thunderbird's elements, implicit TLS first, our host name and ports."""
    response = client.get(path, {"emailaddress": "alice@alpha.test"})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider.get("id") == "alpha.test" and provider.findtext("domain") == "alpha.test"
    incoming = provider.findall("incomingServer")
    assert [(s.get("type"), s.findtext("socketType")) for s in incoming][:2] == [("imap", "SSL"), ("imap", "STARTTLS")]
    first = incoming[0]
    assert first.findtext("hostname") == settings.YUBIN_HOSTNAME
    assert first.findtext("port") == str(settings.YUBIN_PORT_IMAPS)
    assert first.findtext("username") == "%EMAILADDRESS%"
    assert first.findtext("authentication") == "password-cleartext"
    outgoing = provider.findall("outgoingServer")
    assert [(s.get("type"), s.findtext("port")) for s in outgoing] == [
        ("smtp", str(settings.YUBIN_PORT_SUBMISSIONS)), ("smtp", str(settings.YUBIN_PORT_SUBMISSION)),
    ]  # fmt: skip


def test_thunderbird_by_host_and_unknown_domain(world, client):
    """Without an address the Host header names the domain; foreign domains get 404."""
    response = client.get("/mail/config-v1.1.xml", HTTP_HOST="autoconfig.beta.test")
    assert ET.fromstring(response.content).find("emailProvider").get("id") == "beta.test"
    assert client.get("/mail/config-v1.1.xml", {"emailaddress": "x@elsewhere.example"}).status_code == 404


def test_outlook_autodiscover(world, client):
    """A POX request gets the 2006a response with IMAP, POP3 and SMTP settings for the address."""
    response = client.post(
        "/autodiscover/autodiscover.xml", REQUEST.format(address="Alice@Alpha.test"), content_type="text/xml"
    )
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert root.tag == f"{RESPONSE_NS}Autodiscover"
    account = root.find(f"{OUTLOOK_NS}Response/{OUTLOOK_NS}Account")
    assert account.findtext(f"{OUTLOOK_NS}AccountType") == "email"
    assert account.findtext(f"{OUTLOOK_NS}Action") == "settings"
    protocols = {p.findtext(f"{OUTLOOK_NS}Type"): p for p in account.findall(f"{OUTLOOK_NS}Protocol")}
    assert set(protocols) == {"IMAP", "POP3", "SMTP"}
    imap = protocols["IMAP"]
    assert imap.findtext(f"{OUTLOOK_NS}Server") == settings.YUBIN_HOSTNAME
    assert imap.findtext(f"{OUTLOOK_NS}Port") == str(settings.YUBIN_PORT_IMAPS)
    assert imap.findtext(f"{OUTLOOK_NS}SSL") == "on"
    assert imap.findtext(f"{OUTLOOK_NS}LoginName") == "alice@alpha.test"
    assert imap.findtext(f"{OUTLOOK_NS}SPA") == "off"


@pytest.mark.parametrize(
    "body",
    [
        REQUEST.format(address="someone@elsewhere.example"),
        REQUEST.format(address="not an address"),
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]>' + REQUEST.format(address="alice@alpha.test"),
        "garbage",
        "",
    ],
)
def test_autodiscover_refuses_bad_requests(world, client, body):
    """Unknown domains, bad addresses, DTDs and garbage get the autodiscover error document."""
    response = client.post("/autodiscover/autodiscover.xml", body, content_type="text/xml")
    root = ET.fromstring(response.content)
    assert root.find(f"{RESPONSE_NS}Response/{RESPONSE_NS}Error/{RESPONSE_NS}ErrorCode").text == "600"


def test_mobileconfig_profile():
    """A configuration profile with one com.apple.mail.managed payload, stable UUIDs."""
    profile = plistlib.loads(mobileconfig(address="alice@alpha.test", display_name="Alice"))
    assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1
    (payload,) = profile["PayloadContent"]
    assert payload["PayloadType"] == "com.apple.mail.managed"
    assert payload["EmailAccountType"] == "EmailTypeIMAP"
    assert payload["IncomingMailServerHostName"] == settings.YUBIN_HOSTNAME
    assert payload["IncomingMailServerPortNumber"] == settings.YUBIN_PORT_IMAPS
    assert payload["OutgoingMailServerPortNumber"] == settings.YUBIN_PORT_SUBMISSIONS
    assert payload["IncomingMailServerUseSSL"] and payload["OutgoingMailServerUseSSL"]
    assert payload["EmailAccountName"] == "Alice"
    again = plistlib.loads(mobileconfig(address="alice@alpha.test"))
    assert again["PayloadUUID"] == profile["PayloadUUID"]


def test_mta_sts_policy(world, client):
    response = client.get("/.well-known/mta-sts.txt", HTTP_HOST="mta-sts.alpha.test")
    assert response.status_code == 200
    lines = response.content.decode().split("\r\n")
    assert lines[:3] == ["version: STSv1", f"mode: {settings.YUBIN_MTA_STS_MODE}", f"mx: {settings.YUBIN_HOSTNAME}"]
    assert client.get("/.well-known/mta-sts.txt", HTTP_HOST="mta-sts.elsewhere.example").status_code == 404


def test_apple_profile_for_the_signed_in_user_only(world, client):
    """The webmail's settings link downloads the signed-in user's own profile; nobody else's."""
    anonymous = client.get("/mail/profile.mobileconfig")
    assert anonymous.status_code == 403
    client.force_login(world.alpha_user)
    response = client.get("/mail/profile.mobileconfig")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-apple-aspen-config"
    assert response["Content-Disposition"].startswith("attachment;")
    profile = plistlib.loads(response.content)
    (account,) = profile["PayloadContent"]
    assert account["EmailAddress"] == world.alpha_user.address
    assert account["IncomingMailServerPortNumber"] == settings.YUBIN_PORT_IMAPS
