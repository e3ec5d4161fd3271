"""APPEND (RFC 3501 §6.3.11) with APPENDUID (RFC 4315), APPENDLIMIT (RFC 7889), UTF8 (RFC 6855 §4), ~{n} (RFC 3516)."""

from __future__ import annotations

import json

from agents.imap import limits
from agents.imap.errors import Bad, No
from agents.imap.folder_cache import WIRE
from agents.imap.parser_helpers import datetime_parse, flags_parse
from agents.imap.protocol import response
from agents.imap.protocol.parser import Atom, String
from agents.imap.registry import AUTH, Request, command
from agents.imap.session import Session
from store.blobs import blob_write
from store.parse import ParsedMessage, parse_message
from store.selectors.imap import FolderRow, imap_folder
from store.services import message_append
from store.services.search_index import search_at_delivery


@command("APPEND", states=AUTH)
async def append(session: Session, request: Request) -> str | None:
    args = request.args
    name = session.mailbox_in(args.astring())
    bits, keywords = 0, list[str]()
    internal_date = None
    if isinstance(args.peek(), list):
        bits, keywords = flags_parse(args.list())
    token = args.peek()
    if isinstance(token, String) and not _is_message(args):
        internal_date = datetime_parse(args.string().text)
    token = args.next()
    if isinstance(token, Atom) and token.upper() == "UTF8":
        inner = args.list()
        if len(inner) != 1 or not isinstance(inner[0], String):
            raise Bad("UTF8 needs a literal")
        token = inner[0]
    if not isinstance(token, String):
        raise Bad("APPEND needs a message literal")
    args.end()
    message = bytes(token)
    if not message:
        raise No("Cannot append an empty message")
    if len(message) > limits.append_limit():
        raise No(response.TOO_BIG, "TOOBIG")
    assert session.account_id is not None
    # The folder, the parse and the blob's file (and its fsyncs) on a read thread, in one trip,
    # so the store writer, which commits for every session, only runs the statements.
    prepared = await session.db.run(_prepare, session.account_id, name, message)
    if prepared is None:
        raise No(response.NO_SUCH_MAILBOX, "TRYCREATE")
    folder, parsed = prepared
    result = await session.db.write(
        lambda: message_append(
            folder_id=folder.id,
            raw=message,
            flags=bits,
            keywords=keywords,
            internal_date=internal_date,
            parsed=parsed,
            blob_written_by_caller=True,
        )
    )
    return f"[APPENDUID {result.uid_validity} {result.uid}] APPEND completed"


def _prepare(account_id: int, name: str, message: bytes) -> tuple[FolderRow, ParsedMessage] | None:
    folder = imap_folder(account_id, name)
    if folder is None:
        return None
    digest = blob_write(message)
    parsed = parse_message(message, search=search_at_delivery())  # (SQLite: the indexer's work)
    # A client that appends usually fetches what it appended: its FETCH answers come from the
    # cache without reading the parse back. As stored: through JSON, like the Blob row's columns.
    WIRE.store(digest, json.loads(json.dumps(parsed.envelope)), json.loads(json.dumps(parsed.body)))
    return folder, parsed


def _is_message(args: object) -> bool:
    """A String followed by nothing is the message itself, not the date-time."""
    from agents.imap.protocol.parser import Args

    assert isinstance(args, Args)
    return args.index + 1 >= len(args.tokens)
