"""Group commit: a batch that fails as a whole is retried message by message, so one bad message
costs the others nothing and every outcome matches what was committed."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from agents.mda.deliver import DeliveryJob, RecipientPlan, batch_deliver
from store.models import DeliveryLog, Message
from store.parse import ParsedMessage
from store.selectors.smtp import recipient_resolve


def job(n: int, address: str) -> DeliveryJob:
    raw = f"From: a@remote.example\r\nSubject: batch {n}\r\nMessage-ID: <{n}@remote.example>\r\n\r\nx\r\n".encode()
    return DeliveryJob(
        raw=raw,
        sender="a@remote.example",
        recipients=[RecipientPlan(address, accounts=recipient_resolve(address).accounts)],
    )


def test_batch_of_three_one_broken(make_account: Any) -> None:
    """The middle message's parse failed: it gets a failure, the other two are
    delivered once each and reported delivered."""
    taro = make_account("taro@example.test")
    broken = job(2, "taro@example.test")
    failed: Future[ParsedMessage] = Future()
    failed.set_exception(RuntimeError("parser crashed"))
    broken.parsed = failed
    outcomes = batch_deliver([job(1, "taro@example.test"), broken, job(3, "taro@example.test")])
    assert [o.ok for o in outcomes] == [True, False, True]
    subjects = sorted(Message.objects.filter(folder__account=taro).values_list("subject", flat=True))
    assert subjects == ["batch 1", "batch 3"]
    assert DeliveryLog.objects.filter(event="delivered").count() == 2


def test_batch_delivers_all_in_one_transaction(make_account: Any) -> None:
    """Messages to several accounts in one batch: all delivered, UIDs in batch order per folder."""
    taro = make_account("taro@example.test")
    hanako = make_account("hanako@example.test")
    jobs = [job(n, "taro@example.test" if n % 2 else "hanako@example.test") for n in range(1, 7)]
    assert all(o.ok for o in batch_deliver(jobs))
    for account, expected in ((taro, ["batch 1", "batch 3", "batch 5"]), (hanako, ["batch 2", "batch 4", "batch 6"])):
        rows = Message.objects.filter(folder__account=account).order_by("uid").values_list("uid", "subject")
        assert list(rows) == list(enumerate(expected, start=1))
