"""STARTTLS (RFC 3207), MTA-STS enforcement (RFC 8461) and the smarthost with AUTH, against real servers."""

from __future__ import annotations

import http.server
import threading

import pytest

from agents.mta.queue import relay_message
from store.models import DeliveryLog, OutboundRecipient
from tests.agents.mta.certs import make_ca_and_server
from tests.agents.mta.sink import Sink, password_authenticator
from tests.conftest import free_port

POLICY = "version: STSv1\r\nmode: enforce\r\nmx: {mx}\r\nmax_age: 86400\r\n"


@pytest.fixture
def tls_material(tmp_path):
    return make_ca_and_server(tmp_path, ["mx.remote.test", "relay.provider.test"])


@pytest.fixture
def policy_server(relay_env, settings):
    """An HTTP server on loopback that serves MTA-STS policies: policies[domain] = text."""
    policies: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            text = policies.get(self.path.strip("/"))
            self.send_response(200 if text else 404)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            if text:
                self.wfile.write(text.encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.YUBIN_MTA_STS_URL = f"http://127.0.0.1:{server.server_address[1]}/{{domain}}"
    yield policies
    server.shutdown()
    server.server_close()


def _restart_sink(relay_env, **options) -> Sink:
    relay_env.sink.stop()
    relay_env.sink = Sink(port=relay_env.sink.port, **options).start()
    return relay_env.sink


def test_starttls_is_used_when_offered(relay_env, tls_material):
    """Opportunistic TLS: the session is encrypted and the delivery log says so."""
    _ca, context = tls_material
    sink = _restart_sink(relay_env, tls_context=context)
    outbound = relay_env.enqueue()
    relay_message(outbound.pk)
    assert sink.received[0].tls
    assert DeliveryLog.objects.get(queue_id=outbound.pk, event="relayed").tls


def _relay_under_policy(relay_env, policy_server, mx_pattern: str) -> OutboundRecipient:
    """Publish an enforced MTA-STS policy for remote.test, relay one message, return its row."""
    relay_env.dns.add("_mta-sts.remote.test", "TXT", "v=STSv1; id=20261128")
    policy_server["remote.test"] = POLICY.format(mx=mx_pattern)
    outbound = relay_env.enqueue()
    relay_message(outbound.pk)
    return OutboundRecipient.objects.get(message=outbound)


def test_mta_sts_enforce_refuses_a_server_without_tls(relay_env, policy_server):
    """An enforced policy and an MX without STARTTLS: deferred with 4.7.5, nothing sent in clear."""
    row = _relay_under_policy(relay_env, policy_server, "mx.remote.test")
    assert row.state == "deferred" and "4.7.5" in row.last_reply
    assert relay_env.sink.received == []


def test_mta_sts_enforce_delivers_over_verified_tls(relay_env, policy_server, tls_material, settings):
    """An enforced policy and an MX with a certificate for its name: delivered over TLS."""
    ca_path, context = tls_material
    settings.YUBIN_RELAY_CA_FILE = str(ca_path)
    sink = _restart_sink(relay_env, tls_context=context)
    assert _relay_under_policy(relay_env, policy_server, "*.remote.test").state == "sent"
    assert sink.received[0].tls


def test_mta_sts_enforce_rejects_an_unverifiable_certificate(relay_env, policy_server, tls_material):
    """Enforced policy, certificate from an unknown CA: deferred, not sent."""
    _ca, context = tls_material
    sink = _restart_sink(relay_env, tls_context=context)
    row = _relay_under_policy(relay_env, policy_server, "mx.remote.test")
    assert row.state == "deferred" and "4.7.5" in row.last_reply
    assert sink.received == []


def test_mta_sts_mx_not_in_policy_is_not_used(relay_env, policy_server):
    """An MX the policy does not list is never contacted (RFC 8461 §4.1)."""
    row = _relay_under_policy(relay_env, policy_server, "mx.elsewhere.test")
    assert row.state == "deferred" and "lists none" in row.last_reply
    assert relay_env.sink.handler.connections == 0


def _smarthost(relay_env, tls_material, settings, password: str) -> Sink:
    """The provider: a sink with verified STARTTLS and AUTH for site/s3cret; the relay sends through it."""
    ca_path, context = tls_material
    sink = _restart_sink(
        relay_env, tls_context=context, authenticator=password_authenticator("site", "s3cret"), auth_required=True
    )
    relay_env.dns.add("relay.provider.test", "A", "127.0.0.1")
    settings.YUBIN_SMARTHOST = f"relay.provider.test:{sink.port}"
    settings.YUBIN_SMARTHOST_USER = "site"
    settings.YUBIN_SMARTHOST_PASSWORD = password
    settings.YUBIN_RELAY_CA_FILE = str(ca_path)
    return sink


def test_smarthost_with_starttls_and_auth(relay_env, tls_material, settings):
    """YUBIN_SMARTHOST: every domain goes to the provider, over verified STARTTLS, after AUTH."""
    sink = _smarthost(relay_env, tls_material, settings, "s3cret")
    outbound = relay_env.enqueue("someone@nowhere-in-dns.test")
    relay_message(outbound.pk)
    assert OutboundRecipient.objects.get(message=outbound).state == "sent"
    assert sink.received[0].recipients == ["someone@nowhere-in-dns.test"] and sink.received[0].tls


def test_smarthost_refusing_the_password_bounces(relay_env, tls_material, settings):
    """A refused AUTH (535) is the provider's permanent answer: the recipient bounces, nothing is sent."""
    sink = _smarthost(relay_env, tls_material, settings, "wrong")
    outbound = relay_env.enqueue()
    relay_message(outbound.pk)
    row = OutboundRecipient.objects.get(message=outbound)
    assert row.last_reply.startswith("535") and row.state == "bounced"
    assert sink.received == []
