"""Connect the store's queue to the relay: Celery dispatch after commit, reports for admin bounces."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence

from django.conf import settings

log = logging.getLogger(__name__)

# A task costs a worker about as much as relaying several messages (broker, claim and outcome
# transactions), so under load the dispatch thread sends at most one task per interval, carrying
# everything committed meanwhile; mail arriving after a quiet moment still goes at once.
DISPATCH_INTERVAL_SECONDS = 0.05

# Each commit's ids as one item: a put wakes the sender thread, which on a process pinned to one
# CPU preempted the committing thread once per message only to wait for the GIL it held.
_pending: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
_sender: threading.Thread | None = None
_sender_lock = threading.Lock()


def dispatch_deliver(outbound_ids: Sequence[int]) -> None:
    """Send "deliver rows N, M, ..." from a background thread, so the committing thread (the SMTP
    group commit, which answers 250 only after its after-commit hooks ran) does not wait for the
    broker. The thread joins whatever is waiting, up to YUBIN_RELAY_BATCH messages, into one
    task, at most one task per DISPATCH_INTERVAL_SECONDS unless a full batch waits. A dispatch
    lost with the process, or a broker that is down, only delays mail until the sweep."""
    global _sender
    if outbound_ids:
        _pending.put(list(outbound_ids))
    if _sender is None or not _sender.is_alive():
        with _sender_lock:
            if _sender is None or not _sender.is_alive():
                _sender = threading.Thread(target=_send_forever, name="relay-dispatch", daemon=True)
                _sender.start()


def _send_forever() -> None:
    from agents.mta.tasks import deliver

    sent_at = 0.0
    carried: list[int] = []  # ids beyond the last full batch: the next task's, sent at once if full
    while True:
        waiting = carried or _pending.get()
        batch = max(1, settings.YUBIN_RELAY_BATCH)
        while len(waiting) < batch:
            wait = sent_at + DISPATCH_INTERVAL_SECONDS - time.monotonic()
            try:
                waiting.extend(_pending.get(timeout=wait) if wait > 0 else _pending.get_nowait())
            except queue.Empty:
                break
        sent_at = time.monotonic()
        outbound_ids, carried = waiting[:batch], waiting[batch:]
        try:
            deliver.apply_async((outbound_ids,), retry=False)
        except Exception as exc:
            log.warning("relay dispatch of queue ids %s failed (the sweep will retry): %s", outbound_ids, exc)


def hooks_register() -> None:
    from agents.mta.queue import admin_bounce_notice
    from store.services.queue import queue_dispatch_hook_register, queue_notice_hook_register

    queue_dispatch_hook_register(dispatch_deliver)
    queue_notice_hook_register(admin_bounce_notice)
