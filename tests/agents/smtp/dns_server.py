"""A tiny authoritative DNS server on loopback (dnslib) for SPF, DKIM and DMARC tests."""

from __future__ import annotations

from typing import Any

from dnslib import QTYPE, RR, TXT, A
from dnslib.server import BaseResolver, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, txt: dict[str, list[str]], a: dict[str, str]) -> None:
        self.txt = {k.lower().rstrip("."): v for k, v in txt.items()}
        self.a = {k.lower().rstrip("."): v for k, v in a.items()}

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        qtype = QTYPE[request.q.qtype]
        if qtype == "TXT":
            for value in self.txt.get(name, []):
                chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        elif qtype == "A" and name in self.a:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(self.a[name]), ttl=60))
        return reply


def dns_start(port: int, txt: dict[str, list[str]], a: dict[str, str] | None = None) -> DNSServer:
    server = DNSServer(ZoneResolver(txt, a or {}), port=port, address="127.0.0.1", tcp=False)
    server.start_thread()
    return server
