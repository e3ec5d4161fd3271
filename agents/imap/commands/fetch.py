"""FETCH / UID FETCH (RFC 3501 §6.4.5) with CHANGEDSINCE / VANISHED (RFC 7162 §3.1.4, §3.2.6), BINARY (RFC 3516).

UID, FLAGS and MODSEQ come from the session's view; everything else from the stored parse
results and the blob, read in batches of uids.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime

from agents.imap import limits
from agents.imap.errors import Bad
from agents.imap.fetch_items import FetchRequest, Section, fetch_parse, partial_slice, section_bytes
from agents.imap.folder_cache import WIRE, FolderMeta, WireEntry
from agents.imap.parser_helpers import datetime_format
from agents.imap.protocol.parser import ascii_digits
from agents.imap.protocol.response import literal
from agents.imap.protocol.seqset import seqset_format
from agents.imap.registry import SEL, Request, command
from agents.imap.session import RECENT_BIT, Session, flags_bytes
from agents.imap.view import FolderView
from store.blobs import blob_reads_anywhere, blobs_cached
from store.models import Flag
from store.selectors.imap import imap_expunged_since
from store.services import flags_set


@command("FETCH", "UID FETCH", states=SEL)
async def fetch(session: Session, request: Request) -> str | None:
    view = session.require_view()
    args = request.args
    set_text = args.atom()
    items = fetch_parse(args.next())
    changed_since = None
    vanished = False
    if args.more():
        modifiers = args.list()
        index = 0
        while index < len(modifiers):
            name = str(modifiers[index]).upper()
            value = str(modifiers[index + 1]) if index + 1 < len(modifiers) else ""
            if name == "CHANGEDSINCE" and ascii_digits(value):
                changed_since = int(value)
                index += 2
            elif name == "VANISHED" and request.uid and "QRESYNC" in session.enabled:
                vanished = True
                index += 1
            else:
                raise Bad("Unknown FETCH modifier")
        if vanished and changed_since is None:
            raise Bad("VANISHED needs CHANGEDSINCE")
    args.end()
    positions = session.resolve_set(set_text, uid=request.uid)
    if request.uid:
        items.want("UID")
    if changed_since is not None or "MODSEQ" in items.simple:
        session.condstore_enable()
        items.want("MODSEQ")
    columns = view.columns
    if changed_since is not None:
        positions = [i for i in positions if columns.modseqs[i] > changed_since]
        if vanished:
            gone = await session.db.run(imap_expunged_since, view.folder_id, changed_since)
            low, high = _set_bounds(session, set_text)
            gone = [uid for uid in gone if low <= uid <= high]
            if gone:
                session.untagged(f"VANISHED (EARLIER) {seqset_format(gone)}")
    if items.sets_seen() and not view.read_only:
        unseen = [columns.uids[i] for i in positions if not columns.flags[i] & Flag.SEEN]
        if unseen:
            result = await session.db.write_state(
                lambda: flags_set(folder_id=view.folder_id, uids=unseen, mode="add", flags=Flag.SEEN)
            )
            for message in result.changed:
                index = columns.position(message.uid)
                if index >= 0:
                    columns.flags[index] = message.flags
                    columns.modseqs[index] = message.modseq
            items.want("FLAGS")
            if session.condstore:  # RFC 7162 §3.1: the implicit \Seen's FETCH has UID and MODSEQ
                items.want("UID")
                items.want("MODSEQ")
    await _render(session, items, positions)
    return None


def _set_bounds(session: Session, set_text: str) -> tuple[int, int]:
    from agents.imap.protocol.seqset import SeqSet

    view = session.require_view()
    ranges = SeqSet.parse(set_text).resolve(view.uid_next)
    return ranges[0][0], ranges[-1][1]


async def _render(session: Session, items: FetchRequest, positions: list[int]) -> None:
    view = session.require_view()
    columns = view.columns
    needed = items.columns()
    simple = items.simple
    if not needed and not items.sections:
        await _render_cached(session, simple, positions)
        return
    meta = await session.folder_meta()
    # The view's positions are the folder's when both hold the same UIDs; comparing them costs
    # a pass over the folder (30 µs at 100k), so a FETCH of a few messages looks each one up.
    same = len(positions) * 32 >= len(meta.uids) and columns.uids == meta.uids
    wire_needed = "envelope" in needed or "body" in needed
    reads = bool(items.sections) or bool({"RFC822", "RFC822.HEADER", "RFC822.TEXT"} & set(simple))
    for start in range(0, len(positions), limits.FETCH_BATCH):
        batch = positions[start : start + limits.FETCH_BATCH]
        indexes = batch if same else [meta.index(columns.uids[i]) for i in batch]
        wire: dict[str, WireEntry] = {}
        if wire_needed:
            digests = [meta.blobs[i] for i in indexes if i >= 0]
            cached = WIRE.entries(digests)
            wire = cached if cached is not None else await session.db.run(WIRE.load, digests)
        if (
            reads
            and (
                not blob_reads_anywhere()
                or sum(meta.sizes[i] for i in indexes if i >= 0) > limits.FETCH_INLINE_READ_BYTES
            )
            and not blobs_cached(meta.blobs[i] for i in indexes if i >= 0)
        ):
            rendered = await session.db.run(_render_batch, session, items, batch, indexes, meta, wire)
        else:  # small reads (page cache, SQLite) cost less than a thread hop
            rendered = _render_batch(session, items, batch, indexes, meta, wire)
        for chunk in rendered:
            session.send(chunk)
        await session.conn.flush_if_large()


def _cached_item(session: Session, view: FolderView, name: str, index: int) -> bytes:
    """UID, FLAGS or MODSEQ of the view's message at index, from the view's columns."""
    if name == "UID":
        return b"UID %d" % view.columns.uids[index]
    if name == "FLAGS":
        return b"FLAGS " + session.flags_of(view, index)
    return b"MODSEQ (%d)" % view.columns.modseqs[index]


def _recent_uniform(chunk: list[int], starts: list[int], stops: list[int]) -> bool | None:
    """True when every position of the chunk is in one \\Recent span, False when none is in
    any, None when it is mixed. A span is a run of positions, so its two ends decide."""
    low, high = min(chunk), max(chunk)
    span = bisect_right(starts, low) - 1
    if span >= 0 and high < stops[span]:
        return True
    if (span < 0 or low >= stops[span]) and (span + 1 == len(starts) or high < starts[span + 1]):
        return False
    return None


async def _render_cached(session: Session, simple: list[str], positions: list[int]) -> None:
    view = session.require_view()
    columns = view.columns
    uids, flags, modseqs, keywords = columns.uids, columns.flags, columns.modseqs, columns.keywords
    if simple == ["UID", "FLAGS"]:  # the hot path of every client's resync
        # \Recent as sorted, disjoint position ranges; a chunk wholly inside one or wholly
        # between two (the usual case) is decided once, a mixed one by a bisect per message.
        spans = [] if session.rev2 else view.recent_positions()
        starts, stops = [span.start for span in spans], [span.stop for span in spans]
        by_bits: dict[int, bytes] = {}
        for start in range(0, len(positions), 5000):
            lines = []
            chunk = positions[start : start + 5000]
            uniform = _recent_uniform(chunk, starts, stops) if spans else False
            for index in chunk:
                uid = uids[index]
                words = keywords.get(uid) if keywords else None
                if uniform is None:
                    span = bisect_right(starts, index) - 1
                    recent = span >= 0 and index < stops[span]
                else:
                    recent = uniform
                if words:
                    shown = flags_bytes(flags[index], words, recent)
                else:
                    bits = flags[index] | RECENT_BIT if recent else flags[index]
                    shown = by_bits.get(bits) or by_bits.setdefault(bits, flags_bytes(flags[index], (), recent))
                lines.append(b"* %d FETCH (UID %d FLAGS %s)\r\n" % (index + 1, uid, shown))
            session.send(b"".join(lines))
            await session.conn.flush_if_large()
        return
    for count, index in enumerate(positions, 1):
        parts = [_cached_item(session, view, name, index) for name in simple]
        session.send(b"* %d FETCH (" % (index + 1) + b" ".join(parts) + b")\r\n")
        if count % 5000 == 0:
            await session.conn.flush_if_large()
    del modseqs


def _render_batch(
    session: Session,
    items: FetchRequest,
    batch: list[int],
    indexes: list[int],
    meta: FolderMeta,
    wire: dict[str, WireEntry],
) -> list[bytes]:
    """The FETCH responses of a batch of view positions (meta indexes alongside; -1 = unknown)."""
    out: list[bytes] = []
    view = session.require_view()  # the session awaits this batch: its view does not change meanwhile
    for index, at in zip(batch, indexes, strict=True):
        entry = wire.get(meta.blobs[at]) if at >= 0 and wire else None
        known = at >= 0 and (entry is not None or not wire)
        parts: list[bytes] = []
        for name in items.simple:
            if name in ("UID", "FLAGS", "MODSEQ"):
                parts.append(_cached_item(session, view, name, index))
            elif not known:
                continue
            elif name == "INTERNALDATE":
                moment = datetime.fromtimestamp(meta.internal[at], UTC)
                parts.append(b'INTERNALDATE "' + datetime_format(moment).encode() + b'"')
            elif name == "RFC822.SIZE":
                parts.append(b"RFC822.SIZE %d" % meta.sizes[at])
            elif entry is None:
                continue
            elif name == "ENVELOPE":
                parts.append(b"ENVELOPE " + entry[0])
            elif name == "BODY":
                parts.append(b"BODY " + entry[1])
            elif name == "BODYSTRUCTURE":
                parts.append(b"BODYSTRUCTURE " + entry[2])
            else:  # RFC822, RFC822.HEADER, RFC822.TEXT
                text = {"RFC822": "", "RFC822.HEADER": "HEADER", "RFC822.TEXT": "TEXT"}[name]
                whole = section_bytes(meta.blobs[at], entry[3], Section("BODY", True, [], text)) or b""
                parts.append(name.encode() + b" " + literal(whole))
        if known and entry is not None:
            digest, body = meta.blobs[at], entry[3]
            for section in items.sections:
                data: bytes | None = section_bytes(digest, body, section)
                if section.kind == "BINARY.SIZE":
                    parts.append(b"BINARY.SIZE[%s] %d" % (section.echo.encode(), len(data or b"")))
                    continue
                binary = section.kind == "BINARY" and data is not None and b"\0" in data
                if data is None:
                    parts.append(section.response_name() + b" NIL")
                    continue
                parts.append(
                    section.response_name() + b" " + literal(partial_slice(data, section.partial), binary=binary)
                )
        out.append(b"* %d FETCH (" % (index + 1) + b" ".join(parts) + b")\r\n")
    return out
