"""Periodic store housekeeping run by Celery beat: finished queue rows, blob GC, change events, tokens,
and the search index of messages committed while no agents process indexed them."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from store.changes import change_prune
from store.services.blobs import blob_gc_sweep
from store.services.queue import queue_prune
from store.services.search_index import search_index_catch_up
from store.services.tokens import tokens_prune


@shared_task(name="store.housekeeping")
def housekeeping() -> dict[str, int]:
    return {
        "queue": queue_prune(older_than_days=settings.YUBIN_QUEUE_KEEP_DAYS),
        "blobs": blob_gc_sweep(),
        "changes": change_prune(),
        "tokens": tokens_prune(),
        "search_indexed": search_index_catch_up(),
    }
