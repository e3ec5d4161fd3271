"""Refused recipients and messages, written to the delivery log in batches.

The admin panel's dashboard counts "rejected" lines and its tracking shows them. A refusal is
answered at once; its log line waits in memory and a flusher writes the waiting lines with one
INSERT every FLUSH_SECONDS, so a flood of refused RCPTs costs no database round trip each.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async

from agents.smtp.protocol import YubinEnvelope, YubinSession
from store.services.log import log_records

log = logging.getLogger(__name__)

FLUSH_SECONDS = 2.0
MAX_PENDING = 10_000  # beyond this, refusals are counted in the process log only


class RejectionLog:
    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def note(self, session: YubinSession, *, sender: str, recipient: str, reply: str) -> None:
        if len(self.pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self.pending.append(
            {
                "event": "rejected",
                "sender": sender[:320],
                "recipient": recipient[:320],
                "remote_host": (session.host_name or "")[:255],
                "client_ip": session.client_ip,
                "tls": session.tls,
                "reply": reply[:1000],
            }
        )
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        rows, self.pending = self.pending, []
        if self.dropped:
            log.warning("smtp: %d refusals not written to the delivery log (too many at once)", self.dropped)
            self.dropped = 0
        if rows:
            try:
                await sync_to_async(log_records, thread_sensitive=False)(rows=rows)
            except Exception:
                log.exception("smtp: could not write %d refusals to the delivery log", len(rows))


rejections = RejectionLog()


def envelope_sender(envelope: YubinEnvelope) -> str:
    return envelope.sender.address if envelope.sender else ""
