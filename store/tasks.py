"""Periodic store housekeeping run by Celery beat: blob GC, change-event and token pruning."""

from __future__ import annotations

from celery import shared_task

from store.changes import change_prune
from store.services.blobs import blob_gc_sweep
from store.services.tokens import tokens_prune


@shared_task(name="store.housekeeping")
def housekeeping() -> dict[str, int]:
    return {"blobs": blob_gc_sweep(), "changes": change_prune(), "tokens": tokens_prune()}
