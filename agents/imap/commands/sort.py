"""SORT / UID SORT (RFC 5256 §3, SORT=DISPLAY RFC 5957) from the folder's cached sort keys.

The order of a criteria list is computed once per folder generation (agents.imap.folder_cache)
and filtered through the session's view and the search program; no store query when warm.
"""

from __future__ import annotations

from agents.imap.errors import Bad, No
from agents.imap.folder_cache import STRING_SORT_COLUMNS
from agents.imap.registry import SEL, Request, command
from agents.imap.search import CHARSETS, Node, search_parse
from agents.imap.session import Session

SORT_KEYS = {"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", *STRING_SORT_COLUMNS}


def sort_criteria(tokens: list) -> list[tuple[str, bool]]:
    criteria: list[tuple[str, bool]] = []
    reverse = False
    for token in tokens:
        name = str(token).upper()
        if name == "REVERSE":
            if reverse:
                raise Bad("REVERSE twice")
            reverse = True
            continue
        if name not in SORT_KEYS:
            raise Bad(f"Unknown sort key {name[:40]}")
        criteria.append((name, reverse))
        reverse = False
    if reverse or not criteria:
        raise Bad("Invalid sort criteria")
    return criteria


@command("SORT", "UID SORT", states=SEL)
async def sort(session: Session, request: Request) -> str | None:
    from agents.imap.commands.search import evaluate

    view = session.require_view()
    args = request.args
    criteria = sort_criteria(args.list())
    if args.astring().upper() not in CHARSETS:
        raise No("Unsupported charset", "BADCHARSET (UTF-8 US-ASCII)")
    node, _ = search_parse(args)
    meta = await session.folder_meta()
    order = meta.order(criteria)
    columns = view.columns
    meta_uids = meta.uids
    same = columns.uids == meta_uids  # the usual case: view and cache hold the same messages
    wanted = None if node.kind == "all" else set(await evaluate(session, node))
    if same and wanted is None:
        if request.uid:
            numbers = [meta_uids[i] for i in order]
        else:
            numbers = [i + 1 for i in order]
    else:
        numbers = []
        position = columns.position
        for i in order:
            index = i if same else position(meta_uids[i])
            if index < 0 or (wanted is not None and index not in wanted):
                continue
            numbers.append(columns.uids[index] if request.uid else index + 1)
    session.send(b"* SORT" + b"".join(b" %d" % n for n in numbers) + b"\r\n")
    return None


__all__ = ["Node", "sort", "sort_criteria"]
