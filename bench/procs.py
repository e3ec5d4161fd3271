"""Processes of a server under measurement, from /proc (not a benchmark itself)."""

from __future__ import annotations

from pathlib import Path


def process_tree(pid: int) -> list[int]:
    """The process and its children (the agents processes forked to share the ports)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *(int(child) for child in children)]
