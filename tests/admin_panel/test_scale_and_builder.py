"""The accounts list at 10,000 accounts (SQL paging, bounded queries) and the rule builder's round trip."""

from __future__ import annotations

import time

from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from admin_panel.rule_builder import Action, Condition, Rule, RuleError, rules_from_script, rules_to_script
from store.models import Account

ACCOUNTS = 10_000


def test_account_list_at_ten_thousand(world, django_assert_max_num_queries):
    """Listing, searching and sorting 10k accounts stays a handful of queries and well under a second each."""
    Account.objects.bulk_create(
        Account(address=f"user{i:05d}@alpha.test", domain=world.alpha, password="!", used_bytes=i * 1000, quota=10**9)
        for i in range(ACCOUNTS)
    )
    client = world.client_for("admin_alpha")
    url = reverse("admin_panel:account_list")
    for params in ({}, {"q": "user0999"}, {"sort": "-used", "page": "150"}, {"domain": str(world.alpha.pk)}):
        started = time.perf_counter()
        with django_assert_max_num_queries(12):
            response = client.get(url, params)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200
        assert elapsed < 1.5, (params, elapsed)
    assert "user09999@alpha.test" in client.get(url, {"sort": "-used"}).content.decode()
    assert "of 201" in client.get(url).content.decode()  # 10,002 accounts of alpha, 50 a page


def test_builder_round_trip():
    rules = [
        Rule(name="a", match="anyof", conditions=[Condition("from", "is", "x@y.test"), Condition("size", "over", "1M")],
             actions=[Action("redirect_copy", "z@w.test"), Action("keep")]),
        Rule(name="all", conditions=[], actions=[Action("discard")]),
    ]  # fmt: skip
    script = rules_to_script(rules)
    assert rules_from_script(script) == rules
    assert "if true {" in script and "size :over 1M" in script
    assert rules_from_script(script + "discard;\n") is None  # edited by hand


@given(st.text(max_size=60), st.text(max_size=60))
def test_builder_output_always_parses(value, folder):
    """Whatever text a condition or folder holds, the generated script is valid Sieve or refused."""
    from agents.mda.sieve import sieve_validate

    rule = Rule(name=value, conditions=[Condition("subject", "contains", value or "x")],
                actions=[Action("fileinto", folder or "F")])  # fmt: skip
    try:
        script = rules_to_script([rule])
    except RuleError:
        assert not folder.strip()  # a blank folder name is refused, never written
        return
    error = sieve_validate(script)
    assert error is None, (script, error)
    assert rules_from_script(script) == [rule]
