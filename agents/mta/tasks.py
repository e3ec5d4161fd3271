"""Celery tasks of the relay: thin entry points that load a row id and call agents.mta.queue."""

from __future__ import annotations

from celery import shared_task

from agents.mta.queue import relay_message, relay_sweep


@shared_task(name="agents.mta.tasks.deliver", ignore_result=True)
def deliver(outbound_id: int) -> int:
    """Deliver the due recipients of one queued message (a no-op when another worker has them)."""
    return relay_message(outbound_id)


@shared_task(name="agents.mta.tasks.sweep", ignore_result=True)
def sweep() -> int:
    """Periodic (beat): dispatch every message whose recipients are due; finds lost dispatches."""
    return relay_sweep()
