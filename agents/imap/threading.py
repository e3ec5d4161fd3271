"""THREAD algorithms of RFC 5256 §3: ORDEREDSUBJECT and REFERENCES (after Jamie Zawinski's).

Input rows come from store.selectors.imap.imap_thread_rows; output is the THREAD response text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_REFERENCES = 500


@dataclass
class _Container:
    message_id: str
    number: int | None = None  # sequence number or uid to print; None for a dummy
    date: datetime = _EPOCH
    subject: str = ""
    is_reply: bool = False
    parent: _Container | None = None
    children: list[_Container] = field(default_factory=list)

    def sort_date(self) -> datetime:
        if self.number is not None or not self.children:
            return self.date
        return min(child.sort_date() for child in self.children)

    def sort_key(self) -> tuple[datetime, int]:
        if self.number is not None:
            return (self.date, self.number)
        first = min((c.sort_key() for c in self.children), default=(_EPOCH, 0))
        return first


Row = tuple[int, str, str, list[str], str, "datetime | None", datetime, bool]


def _format(node: _Container) -> str:
    """A thread member and its descendants: chains with spaces, branches in parentheses."""
    pieces: list[str] = []
    current: _Container | None = node
    while current is not None:
        if current.number is not None:
            pieces.append(str(current.number))
        children = sorted(current.children, key=lambda c: c.sort_key())
        if len(children) == 1 and current.number is not None:
            current = children[0]
            continue
        if children:
            pieces.append("".join("(" + _format(child) + ")" for child in children))
        current = None
    return " ".join(pieces)


def thread_orderedsubject(rows: list[tuple[int, str, datetime]]) -> str:
    """rows: (number, base subject, sent date). RFC 5256 §3 ORDEREDSUBJECT."""
    groups: dict[str, list[tuple[datetime, int]]] = {}
    for number, subject, date in rows:
        groups.setdefault(subject, []).append((date, number))
    threads = []
    for members in groups.values():
        members.sort()
        first = members[0]
        if len(members) == 1:
            text = str(first[1])
        elif len(members) == 2:
            text = f"{first[1]} {members[1][1]}"
        else:
            text = str(first[1]) + " " + "".join(f"({number})" for _, number in members[1:])
        threads.append((first, text))
    threads.sort()
    return "".join(f"({text})" for _, text in threads)


def thread_references(rows: list[tuple[int, str, str, list[str], str, datetime, bool]]) -> str:
    """rows: (number, message-id, in-reply-to, references, base subject, sent date, is reply)."""
    table: dict[str, _Container] = {}

    def container(message_id: str) -> _Container:
        found = table.get(message_id)
        if found is None:
            found = table[message_id] = _Container(message_id)
        return found

    for number, message_id, in_reply_to, references, subject, date, is_reply in rows:
        key = message_id or f"<yubin-missing-{number}>"
        node = table.get(key)
        if node is not None and node.number is not None:  # duplicate id: treat as its own message
            key = f"<yubin-duplicate-{number}>"
            node = None
        node = node or container(key)
        node.number, node.date, node.subject, node.is_reply = number, date, subject, is_reply
        chain = list(references[:MAX_REFERENCES]) or ([in_reply_to] if in_reply_to else [])
        parent: _Container | None = None
        for reference in chain:
            child = container(reference)
            if parent is not None and child.parent is None and not _reaches(parent, child):
                child.parent = parent
                parent.children.append(child)
            parent = child
        if node.parent is not None:  # message's own position wins (RFC 5256 §3 step 1C)
            node.parent.children.remove(node)
            node.parent = None
        if parent is not None and parent is not node and not _reaches(parent, node):
            node.parent = parent
            parent.children.append(node)
    roots = [node for node in table.values() if node.parent is None]
    roots = [pruned for root in roots for pruned in _prune(root, top=True)]
    roots = _gather_subjects(roots)
    roots.sort(key=lambda c: c.sort_key())
    return "".join("(" + _format(root) + ")" for root in roots)


def _reaches(ancestor: _Container, node: _Container) -> bool:
    """True when node is ancestor or one of its ancestors (linking would make a loop)."""
    current: _Container | None = ancestor
    while current is not None:
        if current is node:
            return True
        current = current.parent
    return False


def _prune(node: _Container, *, top: bool) -> list[_Container]:
    """RFC 5256 §3 step 4: drop empty dummies, promote children of dummies (not to the root set
    unless there is only one child)."""
    new_children: list[_Container] = []
    for child in node.children:
        new_children.extend(_prune(child, top=False))
    node.children = new_children
    for child in new_children:
        child.parent = node
    if node.number is None:
        if not node.children:
            return []
        if not top or len(node.children) == 1:
            for child in node.children:
                child.parent = None
            return node.children
    return [node]


def _thread_subject(node: _Container) -> str:
    """Step 5.B.i: the base subject of the message, or of its first child for a dummy."""
    return node.subject if node.number is not None else _first_subject(node)


def _gather_subjects(roots: list[_Container]) -> list[_Container]:
    """RFC 5256 §3 step 5: merge the threads under the root that share a base subject."""
    ordered = sorted(roots, key=lambda c: c.sort_key())
    table: dict[str, _Container] = {}
    for root in ordered:  # (B) one message per subject, preferring a dummy, then a non-reply
        subject = _thread_subject(root)
        if not subject:
            continue
        current = table.get(subject)
        if current is None or (
            current.number is not None and (root.number is None or (current.is_reply and not root.is_reply))
        ):
            table[subject] = root
    result: list[_Container] = []
    for root in ordered:  # (C) merge every other thread of that subject into the table's
        subject = _thread_subject(root)
        if not subject:
            result.append(root)
            continue
        owner = table[subject]
        if owner is root:
            continue
        if owner.number is None and root.number is None:
            for child in root.children:
                child.parent = owner
            owner.children.extend(root.children)
        elif owner.number is None or (root.is_reply and not owner.is_reply):
            owner.children.append(root)
            root.parent = owner
        else:
            dummy = _Container(message_id="", children=[owner, root])
            owner.parent = root.parent = dummy
            table[subject] = dummy
    distinct = {id(owner): owner for owner in table.values()}  # containers compare by identity
    result.extend(distinct.values())
    return result


def _first_subject(node: _Container) -> str:
    for child in sorted(node.children, key=lambda c: c.sort_key()):
        if child.number is not None:
            return child.subject
    return ""
