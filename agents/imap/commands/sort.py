"""SORT / UID SORT (RFC 5256 §3, SORT=DISPLAY RFC 5957) from the stored sort keys, ordered in SQL."""

from __future__ import annotations

from agents.imap.errors import Bad, No
from agents.imap.registry import SEL, Request, command
from agents.imap.search import CHARSETS, Node, search_parse
from agents.imap.session import Session
from store.selectors.imap import SORT_KEYS, imap_sort


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
    ordered = await session.db.run(imap_sort, view.folder_id, criteria)
    columns = view.columns
    if node.kind == "all":
        wanted = None
    else:
        wanted = {columns.uids[i] for i in await evaluate(session, node)}
    numbers: list[int] = []
    for uid in ordered:
        if wanted is not None and uid not in wanted:
            continue
        index = columns.position(uid)
        if index < 0:
            continue
        numbers.append(uid if request.uid else index + 1)
    session.untagged("SORT" + "".join(f" {n}" for n in numbers))
    return None


__all__ = ["Node", "sort", "sort_criteria"]
