"""Connect the store's queue to the relay: Celery dispatch after commit, reports for admin bounces."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def dispatch_deliver(outbound_id: int) -> None:
    """Send "deliver row N now"; a broker that is down only delays mail until the next sweep."""
    from agents.mta.tasks import deliver

    try:
        deliver.apply_async((outbound_id,), retry=False)
    except Exception as exc:
        log.warning("relay dispatch of queue id %s failed (the sweep will retry): %s", outbound_id, exc)


def hooks_register() -> None:
    from agents.mta.queue import admin_bounce_notice
    from store.services.queue import queue_dispatch_hook_register, queue_notice_hook_register

    queue_dispatch_hook_register(dispatch_deliver)
    queue_notice_hook_register(admin_bounce_notice)
