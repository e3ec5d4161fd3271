"""Blob services: count references, sweep the unreferenced.

Order of writes (DESIGN rules 1 and 5): a file is made durable before the row that names it
is committed, so no committed row ever points at a missing file. A crash between the two leaves
an unreferenced file, which the sweep removes after a grace period. The bytes of a blob kept in
the database (store.blobs.blob_inline) are written by the transaction that names it, and go with
its row.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from store.blobs import TEMP_DIR_NAME, WireFacts, blob_delete, blob_read, blob_root, wire_facts
from store.models import Blob, Message, OutboundMessage

GC_GRACE_SECONDS = 3600  # a file younger than this may belong to a transaction still running


def blob_wire_fill(*, digest: str) -> WireFacts:
    """Work out and keep the POP3 wire facts of a blob stored before they were recorded.

    Reads the file once; later readers find the columns set. Raises OSError if the file is
    unreadable (nothing is recorded then).
    """
    wire = wire_facts(blob_read(digest))
    Blob.objects.filter(pk=digest).update(wire_size=wire.size, wire_crlf=wire.crlf, wire_dots=wire.dots)
    return wire


def blob_release_for_folders(*, folder_ids: list[int]) -> None:
    """Drop the references held by every message of these folders (before they are deleted)."""
    counts = Message.objects.filter(folder_id__in=folder_ids).values("blob_id").annotate(n=Count("id"))
    for row in counts:
        Blob.objects.filter(pk=row["blob_id"]).update(refcount=F("refcount") - row["n"])


def blob_gc_sweep(*, grace_seconds: int = GC_GRACE_SECONDS) -> int:
    """Remove blobs no message or queue row refers to, and files no row names. Returns files removed."""
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    removed = 0
    candidates = list(Blob.objects.filter(refcount__lte=0, created__lt=cutoff).values_list("sha256", flat=True))
    for digest in candidates:
        with transaction.atomic():
            if (
                Message.objects.filter(blob_id=digest).exists()
                or OutboundMessage.objects.filter(blob_id=digest).exists()
            ):
                Blob.objects.filter(pk=digest).update(refcount=Message.objects.filter(blob_id=digest).count())
                continue
            Blob.objects.filter(pk=digest).delete()
        blob_delete(digest)
        removed += 1
    removed += _sweep_orphan_files(grace_seconds)
    return removed


def _sweep_orphan_files(grace_seconds: int) -> int:
    root = blob_root()
    if not root.exists():
        return 0
    now = time.time()
    removed = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            path = os.path.join(dirpath, filename)
            try:
                if now - os.stat(path).st_mtime < grace_seconds:
                    continue
            except FileNotFoundError:
                continue
            in_temp = os.path.basename(dirpath) == TEMP_DIR_NAME
            if in_temp or not Blob.objects.filter(pk=filename).exists():
                try:
                    os.unlink(path)
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed
