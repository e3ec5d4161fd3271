"""A real running system for the webmail tests: the agents' listeners on free loopback ports,
Django's live server, and headless Chromium (Debian's) driven by Playwright."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from imapclient import IMAPClient

from tests.conftest import PASSWORD, LoopThread, free_port, screenshot_on_failure

ADDRESS = "taro@example.test"
OTHER = "hanako@example.test"
PORT_SETTINGS = (
    "YUBIN_PORT_SMTP",
    "YUBIN_PORT_SUBMISSION",
    "YUBIN_PORT_SUBMISSIONS",
    "YUBIN_PORT_IMAP",
    "YUBIN_PORT_IMAPS",
    "YUBIN_PORT_POP3",
    "YUBIN_PORT_POP3S",
    "YUBIN_PORT_SIEVE",
)


def _client_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass
class MailSystem:
    host: str
    ports: dict[str, int]
    loop: LoopThread
    listeners: list = field(default_factory=list)

    def imap(self, address: str = ADDRESS) -> IMAPClient:
        client = IMAPClient(self.host, port=self.ports["YUBIN_PORT_IMAP"], ssl=False, timeout=20)
        client.starttls(_client_tls())
        client.login(address, PASSWORD)
        return client

    def append(self, raw: bytes, folder: str = "INBOX", flags: tuple = (), address: str = ADDRESS) -> None:
        client = self.imap(address)
        try:
            client.append(folder, raw, flags=flags)
        finally:
            client.logout()

    def mx_send(self, raw: bytes, recipients: list[str], sender: str = "someone@elsewhere.example") -> None:
        """Deliver through the MX listener, as a remote server would."""
        with smtplib.SMTP(self.host, self.ports["YUBIN_PORT_SMTP"], timeout=20) as smtp:
            smtp.sendmail(sender, recipients, raw)


@pytest.fixture
def mail_system(make_account: Any, loop_thread: LoopThread, settings: Any) -> Iterator[MailSystem]:
    from agents.runner import _close, listeners_start_all
    from agents.throttle import throttle_reset
    from agents.tls import certificate_ensure
    from webmail.imap.pool import POOL

    for address in (ADDRESS, OTHER):  # the throttle lives in the shared cache, across tests
        throttle_reset(address=address, client_ip="127.0.0.1")

    ports = {name: free_port() for name in PORT_SETTINGS}
    for name, port in ports.items():
        setattr(settings, name, port)
    settings.YUBIN_BIND = "127.0.0.1"
    settings.YUBIN_SMTP_VERIFY_SENDER = False  # no DNS in tests
    certificate_ensure()
    make_account(ADDRESS, display_name="山田 太郎")
    make_account(OTHER)
    system = MailSystem(host="127.0.0.1", ports=ports, loop=loop_thread)
    system.listeners = loop_thread.run(listeners_start_all(host="127.0.0.1"))
    try:
        yield system
    finally:
        POOL.close_all()
        loop_thread.run(_close(system.listeners))


@dataclass
class Recorder:
    """What the page tried to do: dialogs (alert/confirm/prompt), console errors, requests."""

    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def _new_page(browser: Any, request: Any, viewport: dict[str, int]) -> Iterator[Any]:
    context = browser.new_context(viewport=viewport, locale="en-US", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    recorder = Recorder()
    page.on("dialog", lambda dialog: (recorder.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: message.type == "error" and recorder.console_errors.append(message.text))
    page.on("pageerror", lambda error: recorder.page_errors.append(str(error)))
    context.on("request", lambda req: recorder.requests.append(req.url))
    page.recorder = recorder
    try:
        yield page
    finally:
        screenshot_on_failure(page, request)
        context.close()


@pytest.fixture
def page(browser: Any, request: Any) -> Iterator[Any]:
    yield from _new_page(browser, request, {"width": 1280, "height": 900})


@pytest.fixture
def phone_page(browser: Any, request: Any) -> Iterator[Any]:
    yield from _new_page(browser, request, {"width": 375, "height": 740})


def login(page: Any, base_url: str, address: str = ADDRESS, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("#id_address", address)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
