"""Processes of a server under measurement, from /proc (not a benchmark itself)."""

from __future__ import annotations

import os
from pathlib import Path


def process_tree(pid: int) -> list[int]:
    """The process and its children (the agents processes forked to share the ports)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *(int(child) for child in children)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process, its live children and the children it has reaped."""
    total = 0
    for number, member in enumerate(process_tree(pid)):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        if number == 0:
            total += int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")
