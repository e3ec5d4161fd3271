"""Large folders (1k, 10k, 100k messages) through the real server: results right, cost linear.

The folders are bulk-inserted rows sharing one blob (the cost under test depends on rows, not
bytes). For each size: SELECT, UID FETCH 1:* (FLAGS), UID SEARCH (flag, header miss, header hit),
UID SORT (REVERSE DATE) are checked against the expected answer, then timed warm; the cost per
message must stay within a few times that of the 1k folder (SELECT and a header-search miss are
compared as a whole: they must not grow with the folder much at all).
"""

from __future__ import annotations

import re
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.agents.imap.conftest import ADDRESS, message
from tests.conftest import PASSWORD

BASE = datetime(2024, 1, 1, tzinfo=UTC)
# Allowed growth of the per-message cost (whole-command cost for SELECT / search miss) against
# the 1k folder, plus a floor that absorbs scheduling noise on a loaded machine.
GROWTH = 4.0
FLOOR_MS = 15.0


class Wire:
    """A raw client: sends a command, returns the bytes up to and including the tagged reply."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.buffer = b""
        self.count = 0
        self.read_until(b"\r\n")

    def read_until(self, marker: bytes, start: int = 0) -> int:
        while True:
            found = self.buffer.find(marker, start)
            if found >= 0:
                return found
            start = max(len(self.buffer) - len(marker), 0)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk

    def command(self, text: str) -> bytes:
        self.count += 1
        tag = b"w%d" % self.count
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        marker = tag + b" "
        at = 0 if self.buffer.startswith(marker) else self.read_until(b"\r\n" + marker) + 2
        end = self.read_until(b"\r\n", at)
        data, self.buffer = self.buffer[: end + 2], self.buffer[end + 2 :]
        assert data[at:].startswith(marker + b"OK"), data[at:][:200]
        return data

    def timed(self, text: str, repeat: int = 3) -> float:
        """Best of `repeat` runs, in ms."""
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            self.command(text)
            best = min(best, (time.perf_counter() - started) * 1000)
        return best


def _fill(account, name: str, size: int) -> None:  # type: ignore[no-untyped-def]
    """A folder of `size` rows sharing one delivered message's blob, in bulk."""
    from store.models import Folder, Message

    template = Message.objects.filter(folder__account=account).first()
    assert template is not None
    folder = Folder.objects.create(account=account, name=name, uid_validity=7)
    batch = []
    for uid in range(1, size + 1):
        batch.append(
            Message(
                folder=folder, uid=uid, modseq=uid, flags=uid % 3, internal_date=BASE + timedelta(seconds=uid),
                size=template.size, blob_id=template.blob_id, subject=f"Scale message {uid}",
                subject_base=f"scale message {uid}", from_display=template.from_display,
                date_sent=BASE + timedelta(seconds=(uid * 7919) % size),
            )
        )  # fmt: skip
        if len(batch) == 10000:
            Message.objects.bulk_create(batch)
            batch = []
    Message.objects.bulk_create(batch)
    Folder.objects.filter(pk=folder.pk).update(
        uid_next=size + 1, highest_modseq=size, message_count=size, unseen_count=size - size // 3
    )


def _numbers(data: bytes, word: bytes) -> list[int]:
    line = next(line for line in data.split(b"\r\n") if line.startswith(b"* " + word))
    return [int(n) for n in line.split()[2:]]


def _measure(port: int, name: str, size: int) -> dict[str, float]:
    wire = Wire(port)
    wire.command(f'LOGIN {ADDRESS} "{PASSWORD}"')
    selected = wire.command(f"SELECT {name}")
    assert b"* %d EXISTS" % size in selected
    assert b"* %d RECENT" % size in selected  # the first session takes the whole new folder
    flags = wire.command("UID FETCH 1:* (FLAGS)")
    assert flags.count(b" FETCH (") == size
    assert b"* %d FETCH (UID %d FLAGS (\\Seen \\Recent))" % (size, size) in flags or size % 3 != 1
    seen = _numbers(wire.command("UID SEARCH SEEN"), b"SEARCH")
    assert seen == [uid for uid in range(1, size + 1) if uid % 3 == 1]
    assert _numbers(wire.command("UID SEARCH SUBJECT zzqqxx-not-there"), b"SEARCH") == []
    hits = _numbers(wire.command('UID SEARCH SUBJECT "MESSAGE 77"'), b"SEARCH")
    assert hits == [uid for uid in range(1, size + 1) if re.search("message 77", f"scale message {uid}")]
    ordered = _numbers(wire.command("UID SORT (REVERSE DATE) UTF-8 ALL"), b"SORT")
    expected = sorted(range(1, size + 1), key=lambda uid: ((uid * 7919) % size, uid))
    assert ordered == sorted(expected, key=lambda uid: -((uid * 7919) % size))
    timings = {
        "SELECT": wire.timed(f"SELECT {name}"),
        "UID FETCH 1:* (FLAGS)": wire.timed("UID FETCH 1:* (FLAGS)"),
        "UID SEARCH SUBJECT miss": wire.timed("UID SEARCH SUBJECT zzqqxx-not-there"),
        "UID SEARCH UNSEEN": wire.timed("UID SEARCH UNSEEN"),
        "UID SORT (REVERSE DATE)": wire.timed("UID SORT (REVERSE DATE) UTF-8 ALL"),
    }
    wire.command("LOGOUT")
    return timings


def _check_scaling(imap, size: int) -> None:  # type: ignore[no-untyped-def]
    imap.deliver(message("template"))
    _fill(imap.account, "Small", 1000)
    _fill(imap.account, "Large", size)
    small = _measure(imap.port, "Small", 1000)
    large = _measure(imap.port, "Large", size)
    factor = size / 1000
    for name, cost in large.items():
        scale = 1.0 if name in ("SELECT", "UID SEARCH SUBJECT miss") else factor
        allowed = GROWTH * small[name] * scale + FLOOR_MS
        assert cost <= allowed, f"{name}: {cost:.1f} ms at {size} vs {small[name]:.2f} ms at 1k (allowed {allowed:.1f})"


def test_folder_of_1k(imap):
    """A 1k folder answers SELECT, FETCH FLAGS, SEARCH and SORT correctly."""
    imap.deliver(message("template"))
    _fill(imap.account, "Small", 1000)
    timings = _measure(imap.port, "Small", 1000)
    assert all(cost < 1000 for cost in timings.values()), timings


def test_folder_of_10k(imap):
    """A 10k folder: right answers, per-message cost within a few times the 1k folder's."""
    _check_scaling(imap, 10_000)


@pytest.mark.slow
def test_folder_of_100k(imap):
    """A 100k folder: right answers, per-message cost within a few times the 1k folder's."""
    _check_scaling(imap, 100_000)
