"""Celery tasks of the relay: thin entry points that load row ids and call agents.mta.queue."""

from __future__ import annotations

from celery import shared_task

from agents.mta.queue import relay_messages, relay_sweep


@shared_task(name="agents.mta.tasks.deliver", ignore_result=True)
def deliver(outbound_ids: int | list[int]) -> int:
    """Deliver the due recipients of queued messages (rows another worker has are left alone)."""
    return relay_messages([outbound_ids] if isinstance(outbound_ids, int) else outbound_ids)


@shared_task(name="agents.mta.tasks.sweep", ignore_result=True)
def sweep() -> int:
    """Periodic (beat): dispatch every message whose recipients are due; finds lost dispatches."""
    return relay_sweep()
