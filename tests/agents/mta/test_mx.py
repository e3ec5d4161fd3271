"""MX resolution against a real DNS server on loopback (RFC 5321 §5.1, RFC 7505)."""

from __future__ import annotations

from collections import Counter

import pytest

from agents.mta.mx import RouteError, mx_resolve


def test_mx_by_preference_with_addresses(dns_server):
    """Hosts come ordered by preference, each with its A and AAAA addresses."""
    dns_server.zone.update(
        {
            "remote.test": [("MX", "20 backup.remote.test."), ("MX", "10 mx.remote.test.")],
            "mx.remote.test": [("A", "127.0.0.5"), ("AAAA", "::1")],
            "backup.remote.test": [("A", "127.0.0.6")],
        }
    )
    hosts = mx_resolve("remote.test")
    assert [(h.name, h.preference, h.addresses) for h in hosts] == [
        ("mx.remote.test", 10, ("127.0.0.5", "::1")),
        ("backup.remote.test", 20, ("127.0.0.6",)),
    ]


def test_equal_preferences_come_in_random_order(dns_server):
    """Equal-preference MX hosts are shuffled (RFC 5321 §5.1), the better preference stays first."""
    dns_server.zone["remote.test"] = [
        ("MX", "10 a.remote.test."),
        ("MX", "10 b.remote.test."),
        ("MX", "5 c.remote.test."),
    ]
    for name in ("a", "b", "c"):
        dns_server.zone[f"{name}.remote.test"] = [("A", "127.0.0.9")]
    seconds = Counter()
    for _ in range(40):
        hosts = mx_resolve("remote.test")
        assert hosts[0].name == "c.remote.test"
        seconds[hosts[1].name] += 1
    assert set(seconds) == {"a.remote.test", "b.remote.test"}


def test_implicit_mx_when_no_mx_record(dns_server):
    """No MX: the domain's own address is the mail exchanger."""
    dns_server.zone["plain.test"] = [("A", "127.0.0.7")]
    assert [(h.name, h.addresses) for h in mx_resolve("plain.test")] == [("plain.test", ("127.0.0.7",))]


def test_null_mx_is_a_permanent_failure(dns_server):
    """A null MX (0 .) answers 556 5.1.10 at once (RFC 7505 §4.2)."""
    dns_server.zone["nomail.test"] = [("MX", "0 ."), ("A", "127.0.0.7")]
    with pytest.raises(RouteError) as caught:
        mx_resolve("nomail.test")
    assert caught.value.permanent and caught.value.reply.startswith("556 5.1.10")


def test_nxdomain_is_permanent(dns_server):
    """A domain that does not exist bounces."""
    with pytest.raises(RouteError) as caught:
        mx_resolve("missing.test")
    assert caught.value.permanent and caught.value.reply.startswith("550 5.1.2")


@pytest.mark.parametrize("failure", ["servfail", "drop"])
def test_servfail_and_timeout_are_temporary(dns_server, settings, failure):
    """SERVFAIL or no answer at all defers the mail instead of bouncing it."""
    settings.YUBIN_DNS_TIMEOUT = 1
    dns_server.zone["flaky.test"] = [("MX", "10 mx.flaky.test.")]
    getattr(dns_server, failure).add("flaky.test")
    with pytest.raises(RouteError) as caught:
        mx_resolve("flaky.test")
    assert not caught.value.permanent and caught.value.reply.startswith("451 4.4.3")


def test_mx_host_without_address_is_skipped_and_temporary_host_failure_defers(dns_server):
    """A dead MX host name is skipped; when the only host fails temporarily, the result is temporary."""
    dns_server.zone["remote.test"] = [("MX", "10 gone.remote.test."), ("MX", "20 mx.remote.test.")]
    dns_server.zone["mx.remote.test"] = [("A", "127.0.0.8")]
    assert [h.name for h in mx_resolve("remote.test")] == ["mx.remote.test"]
    dns_server.servfail.add("mx.remote.test")
    with pytest.raises(RouteError) as caught:
        mx_resolve("remote.test")
    assert not caught.value.permanent


def test_mx_pointing_at_ourselves_is_a_loop(dns_server, settings):
    """An MX list led by our own host name bounces with 5.4.6 instead of looping."""
    settings.YUBIN_HOSTNAME = "mail.self.test"
    dns_server.zone["self.test"] = [("MX", "10 mail.self.test.")]
    dns_server.zone["mail.self.test"] = [("A", "127.0.0.1")]
    with pytest.raises(RouteError) as caught:
        mx_resolve("self.test")
    assert caught.value.reply.startswith("550 5.4.6")
