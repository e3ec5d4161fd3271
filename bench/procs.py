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


def _stat(path: Path) -> list[str] | None:
    """The fields of a /proc/PID/stat after the command name (fields[0] is proc(5)'s field 3,
    the state; the session is fields[3], utime, stime, cutime, cstime fields[11:15])."""
    try:
        return path.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _ticks(fields: list[str], *, reaped: bool) -> int:
    """User + system CPU ticks of the process, and of its reaped children when asked."""
    own = int(fields[11]) + int(fields[12])
    return own + (int(fields[13]) + int(fields[14]) if reaped else 0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process, its live children and the children it has reaped."""
    total = 0
    for number, member in enumerate(process_tree(pid)):
        fields = _stat(Path(f"/proc/{member}/stat"))
        if fields is not None:
            total += _ticks(fields, reaped=number == 0)
    return total / os.sysconf("SC_CLK_TCK")


def session_cpu_seconds(leader: int) -> float:
    """CPU of every live process in `leader`'s session, and of the leader's reaped children."""
    total = 0
    for path in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat(path)
        if fields is not None and int(fields[3]) == leader:
            total += _ticks(fields, reaped=int(path.parent.name) == leader)
    return total / os.sysconf("SC_CLK_TCK")


def cpu_ns(pid: int) -> int:
    """Nanoseconds on a CPU of the process, its live children and all their threads, from
    /proc/PID/task/TID/schedstat: exact where cpu_seconds counts clock ticks (10 ms), so it can
    time the few milliseconds a short command's repeats take. Reaped children are not counted."""
    total = 0
    for member in process_tree(pid):
        for task in Path(f"/proc/{member}/task").glob("*/schedstat"):
            try:
                total += int(task.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total
