"""SEARCH / UID SEARCH (RFC 3501 §6.4.4) with ESEARCH results (RFC 4731), SEARCHRES (RFC 5182), MODSEQ (RFC 7162)."""

from __future__ import annotations

from agents.imap.errors import Bad, No
from agents.imap.protocol.parser import Args, Atom
from agents.imap.protocol.seqset import seqset_format
from agents.imap.registry import SEL, Request, command
from agents.imap.search import Evaluator, Node, charset_check, in_memory, search_parse, uses_meta, uses_recent
from agents.imap.session import Session

RETURN_OPTIONS = {"MIN", "MAX", "ALL", "COUNT", "SAVE"}


def return_options(args: Args) -> set[str] | None:
    token = args.peek()
    if isinstance(token, Atom) and token.upper() == "RETURN":
        args.next()
        options = {str(item).upper() for item in args.list()}
        if not options <= RETURN_OPTIONS:
            raise Bad("Unknown RETURN option")
        return options or {"ALL"}
    return None


async def evaluate(session: Session, node: Node) -> list[int]:
    """Ascending view positions matching the program."""
    view = session.require_view()
    columns = view.columns
    evaluator = Evaluator(
        view.folder_id,
        columns.uids,
        columns.flags,
        columns.modseqs,
        columns.keywords,
        session.search_result,
        await session.folder_meta() if uses_meta(node) else None,
        {i for positions in view.recent_positions() for i in positions} if uses_recent(node) else frozenset(),
    )
    if in_memory(node):
        return sorted(evaluator.run(node))
    return sorted(await session.db.run(evaluator.run, node))


@command("SEARCH", "UID SEARCH", states=SEL)
async def search(session: Session, request: Request) -> str | None:
    args = request.args
    options = return_options(args)
    try:
        charset_check(args)
        node, used_modseq = search_parse(args)
        if used_modseq:
            session.condstore_enable()
        positions = await evaluate(session, node)
    except (Bad, No):
        if options and "SAVE" in options:
            session.search_result = []  # RFC 5182 §2.1: a SEARCH that fails empties "$"
        raise
    send_results(session, request, positions, options, used_modseq)
    return None


def send_results(
    session: Session, request: Request, positions: list[int], options: set[str] | None, used_modseq: bool
) -> None:
    columns = session.require_view().columns
    numbers = [columns.uids[i] for i in positions] if request.uid else [i + 1 for i in positions]
    if options is None and "IMAP4REV2" not in session.enabled:
        text = " ".join(["SEARCH", *map(str, numbers)])
        if used_modseq and numbers:
            text += f" (MODSEQ {max(columns.modseqs[i] for i in positions)})"
        session.untagged(text)
        return
    options = options or {"ALL"}
    if "SAVE" in options:
        # RFC 5182 §2.1: with MIN and/or MAX alone, "$" holds just those messages.
        session.search_result = [columns.uids[i] for i in _reported(positions, options)]
        options = options - {"SAVE"}
        if not options:
            return
    pieces = [f'ESEARCH (TAG "{request.tag}")']
    if request.uid:
        pieces.append("UID")
    if numbers:
        if "MIN" in options:
            pieces.append(f"MIN {min(numbers)}")
        if "MAX" in options:
            pieces.append(f"MAX {max(numbers)}")
        if "ALL" in options:
            pieces.append(f"ALL {seqset_format(numbers)}")
    if "COUNT" in options:
        pieces.append(f"COUNT {len(numbers)}")
    if used_modseq and numbers:
        # RFC 7162 §3.1.5 (RFC 4731): the highest MODSEQ of the messages reported.
        highest = max(columns.modseqs[i] for i in _reported(positions, options))
        pieces.append(f"MODSEQ {highest}")
    session.untagged(" ".join(pieces))


def _reported(positions: list[int], options: set[str]) -> list[int]:
    """The positions a RETURN reports (ascending): with MIN and/or MAX alone just those, with
    ALL or COUNT (or none of the four, as SAVE alone) every match."""
    if not positions or options & {"ALL", "COUNT"} or not options & {"MIN", "MAX"}:
        return positions
    return sorted({*([positions[0]] if "MIN" in options else []), *([positions[-1]] if "MAX" in options else [])})
