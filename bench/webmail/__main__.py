"""Webmail benchmark: server time of the inbox page, opening a message and a search, through
the real IMAP server, for folders of BENCH_WEBMAIL_SIZES messages (default "1000";
"1000,10000,100000" for the full table).

Each figure is the view's time in Django (test client, no network), p50 and p99 over
BENCH_WEBMAIL_REPEAT requests on a logged-in session (its IMAP connection pooled, as in use).
The peer is Roundcube 1.6 with Dovecot, whose figures on a 2-core machine are printed for
reference (it cannot run here); the same run also measures the access pattern Roundcube uses —
a new IMAP connection and login per request and UID SEARCH ALL before fetching one page —
against our IMAP server, so the ratio to that pattern is measured, not quoted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time

os.environ.setdefault("YUBIN_DATA_DIR", tempfile.mkdtemp(prefix="yubin-bench-webmail-"))
os.environ.setdefault("YUBIN_ALLOW_PLAINTEXT_LOOPBACK", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yubin.settings")

import django

django.setup()

from bench.imap.__main__ import free_port, yubin_setup  # noqa: E402  # the IMAP benchmark's messages

PASSWORD = "bench password 1"
REPEAT = int(os.environ.get("BENCH_WEBMAIL_REPEAT", "30"))
ROUNDCUBE_MS = {  # 1k / 10k / 100k, from the measurements (Roundcube 1.6 + Dovecot)
    "inbox page": {1000: 18, 10000: 30, 100000: 218},
    "open message": {1000: 17, 10000: 34, 100000: 318},
    "search subject": {1000: 18, 10000: 42, 100000: 302},
}


def account_fill(size: int) -> str:
    """The IMAP benchmark's account: 1,000 distinct messages delivered, larger folders repeating them."""
    return yubin_setup(size)


def timed(run, repeat: int = REPEAT) -> tuple[float, float]:
    run(0)  # warm
    timings = []
    for index in range(repeat):
        started = time.perf_counter()
        run(index + 1)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[min(len(timings) - 1, int(len(timings) * 0.99))]


def webmail_figures(address: str, size: int) -> dict[str, tuple[float, float]]:
    from django.test import Client

    client = Client()
    response = client.post("/login/", {"address": address, "password": PASSWORD})
    assert response.status_code == 302, response.status_code

    def inbox(_index: int) -> None:
        assert client.get("/").status_code == 200

    def open_message(index: int) -> None:
        uid = max(1, size - 1 - (index * 37) % size)
        assert client.get(f"/read/{uid}/", {"f": "INBOX"}).status_code == 200

    def search(index: int) -> None:
        query = {"subject": f"topic {index % 13}", "scope": "folder", "f": "INBOX"}
        assert client.get("/search/", query).status_code == 200

    figures = {"inbox page": timed(inbox), "open message": timed(open_message), "search subject": timed(search)}
    client.post("/logout/")
    return figures


def roundcube_pattern(address: str, size: int) -> tuple[float, float]:
    """Connect, log in, UID SEARCH ALL, fetch the last 50, log out — per page view."""
    from django.conf import settings
    from imapclient import IMAPClient

    def page(_index: int) -> None:
        client = IMAPClient("127.0.0.1", port=settings.YUBIN_PORT_IMAP, ssl=False)
        client.login(address, PASSWORD)
        client.select_folder("INBOX")
        uids = client.search(["ALL"])
        client.fetch(uids[-50:], ["FLAGS", "ENVELOPE", "RFC822.SIZE", "BODYSTRUCTURE"])
        client.logout()

    return timed(page)


def main() -> None:
    from django.conf import settings
    from django.core.management import call_command

    from agents.runner import listeners_start_all
    from agents.tls import certificate_ensure

    sizes = [int(s) for s in os.environ.get("BENCH_WEBMAIL_SIZES", "1000").split(",")]
    call_command("migrate", verbosity=0)
    for name in ("SMTP", "SUBMISSION", "SUBMISSIONS", "IMAP", "IMAPS", "POP3", "POP3S", "SIEVE"):
        setattr(settings, f"YUBIN_PORT_{name}", free_port())
    settings.YUBIN_BIND = "127.0.0.1"
    settings.ALLOWED_HOSTS = ["*"]
    certificate_ensure()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    asyncio.run_coroutine_threadsafe(listeners_start_all(host="127.0.0.1"), loop).result()

    print(f"{'view':<18}{'size':>8}{'yubin p50':>11}{'p99':>8}{'roundcube p50':>15}{'ratio':>7}")
    first: dict[str, float] = {}
    for size in sizes:
        started = time.perf_counter()
        address = account_fill(size)
        print(f"# {size} messages delivered in {time.perf_counter() - started:.1f} s", flush=True)
        figures = webmail_figures(address, size)
        for view, (p50, p99) in figures.items():
            first.setdefault(view, p50)
            reference = ROUNDCUBE_MS[view].get(size)
            ratio = f"{reference / p50:7.1f}" if reference else "      -"
            shown = f"{reference:>15}" if reference else f"{'-':>15}"
            print(f"{view:<18}{size:>8}{p50:>11.1f}{p99:>8.1f}{shown}{ratio}", flush=True)
        pattern_p50, pattern_p99 = roundcube_pattern(address, size)
        print(
            f"{'(reconnect+SEARCH ALL)':<18}{size:>8}{pattern_p50:>11.1f}{pattern_p99:>8.1f}"
            f"{'':>15}{pattern_p50 / figures['inbox page'][0]:7.1f}",
            flush=True,
        )
    if len(sizes) > 1:
        for view, baseline in first.items():
            print(f"# {view}: largest/smallest p50 = {figures[view][0] / baseline:.2f}")
    print("# ratio > 1.0: Yubin's webmail is faster than the peer figure")


if __name__ == "__main__":
    main()
