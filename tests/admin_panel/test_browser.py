"""The main administrator flows in a real browser (Debian's Chromium, headless) against a live server.

Create a domain and an account, set a quota, add an alias, add a rule, look at the DNS page,
retry a queued message, find a message in tracking; and the same panel in Japanese.
A screenshot of the page is saved under test-artifacts/ when a step fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.admin_panel.conftest import PASSWORD, build_world
from tests.conftest import screenshot_on_failure

pytestmark = pytest.mark.browser


@pytest.fixture
def live_world(transactional_db: Any) -> Any:
    return build_world()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(locale="en-US")
    browser_page = context.new_page()
    browser_page.set_default_timeout(15_000)
    browser_page.on("dialog", lambda dialog: dialog.accept())
    try:
        yield browser_page
    finally:
        screenshot_on_failure(browser_page, request)
        context.close()


def sign_in(page: Any, base: str, address: str = "root@ops.test") -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("input[name=address]", address)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{base}/admin/")


def test_administrator_main_flows(live_server, live_world, page):
    """A superadmin sets up a domain end to end and follows a message, all through the browser."""
    from store.models import Account, Alias, OutboundRecipient, SieveScript

    base = live_server.url
    sign_in(page, base)
    assert page.locator("svg.chart").count() == 2

    page.click("nav.main >> text=Domains")
    page.click("text=New domain")
    page.fill("input[name=name]", "delta.test")
    page.fill("input[name=default_quota]", "1G")
    page.click("button:has-text('Save')")
    page.wait_for_selector("h1:has-text('delta.test')")

    page.click("text=add")
    page.fill("input[name=local_part]", "dora")
    page.fill("input[name=display_name]", "Dora Delta")
    page.click("button:has-text('Create')")
    password = page.locator("#new-password").inner_text()
    assert len(password) >= 12
    page.click("text=Open the account")

    page.fill("input[name=quota]", "250M")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=Account dora@delta.test saved.")
    assert page.locator("text=250.0 MB").count() >= 1

    page.click("nav.main >> text=Aliases")
    page.click("text=New alias")
    page.fill("input[name=source]", "hello@delta.test")
    page.fill("textarea[name=destinations]", "dora@delta.test, friend@remote.example")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=Alias hello@delta.test created.")

    page.goto(f"{base}/admin/accounts/?q=dora")
    page.click("text=dora@delta.test")
    page.click(".actions >> text=Folder rules")
    page.click("text=New rule")
    page.fill("input[name=name]", "Newsletters")
    page.select_option("select[name=cond0_field]", "list-id")
    page.select_option("select[name=cond0_op]", "contains")
    page.fill("input[name=cond0_value]", "news")
    page.select_option("select[name=act0_type]", "fileinto")
    page.fill("input[name=act0_value]", "News")
    page.click("button:has-text('Save rule')")
    page.wait_for_selector("text=Rule saved.")
    assert page.locator("ol.rules >> text=Newsletters").count() == 1

    page.goto(f"{base}/admin/domains/")
    page.click("text=delta.test")
    page.click("text=DNS and DKIM")
    page.click("button:has-text('Generate a DKIM key')")
    page.wait_for_selector("text=is now the signing key")
    assert page.locator("td:has-text('_domainkey.delta.test')").count() == 1
    assert page.locator("td >> text=v=spf1 mx ~all").count() == 1

    page.click("nav.main >> text=Queue")
    page.click(f"a[href='/admin/queue/{live_world.alpha_queued.pk}/']")
    page.click("button:has-text('Hold')")
    page.wait_for_selector("text=Hold: 1 recipients")
    page.click("button:has-text('Release')")
    page.click("button:has-text('Retry now')")
    page.wait_for_selector("text=Retry now: 1 recipients")

    page.click("nav.main >> text=Tracking")
    page.fill("input[name=message_id]", "<report-1@alpha.test>")
    page.click("button:has-text('Search')")
    page.click("table >> a >> nth=0")
    page.wait_for_selector("h1:has-text('Path of a message')")
    assert page.locator("ol.path li").count() >= 2

    page.click("nav.main >> text=Audit log")
    assert page.locator("td:has-text('alias.create')").count() == 1

    account = Account.objects.get(address="dora@delta.test")
    assert account.quota == 250 * 1024**2 and account.check_password(password)
    assert Alias.objects.get(source="hello@delta.test").destinations == ["dora@delta.test", "friend@remote.example"]
    assert SieveScript.objects.get(account=account, name="rules").active
    assert OutboundRecipient.objects.get(message=live_world.alpha_queued).state == "queued"


def test_japanese_interface_and_domain_admin_scope(live_server, live_world, page):
    """Switching to 日本語 translates the panel; alpha's admin sees alpha's accounts and not beta's."""
    base = live_server.url
    sign_in(page, base, "boss@ops.test")
    page.select_option("select[name=language]", "ja")
    page.wait_for_selector("nav.main >> text=アカウント")
    page.click("nav.main >> text=アカウント")
    assert page.locator("text=alice@alpha.test").count() == 1
    assert page.locator("text=bert@beta.test").count() == 0
    assert page.locator("h1:has-text('アカウント')").count() == 1
    response = page.goto(f"{base}/admin/domains/{live_world.beta.pk}/")
    assert response is not None and response.status == 404
