"""Several agents processes sharing the ports (YUBIN_AGENTS_PROCESSES): serving, limits, stopping."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from store.models import Message
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
OTHER_PORTS = ("SUBMISSION", "SUBMISSIONS", "IMAP", "IMAPS", "POP3", "POP3S", "SIEVE")
MESSAGE = b"From: a@remote.example\r\nTo: hanako@example.test\r\nSubject: shared\r\n\r\nbody\r\n"


def _start(env: dict[str, str], processes: int, **settings: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    env = dict(env)
    env.update(
        YUBIN_AGENTS_PROCESSES=str(processes),
        YUBIN_PORT_SMTP=str(port),
        YUBIN_SMTP_VERIFY_SENDER="0",
        **{f"YUBIN_PORT_{name}": "0" for name in OTHER_PORTS},
        **settings,
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "agents"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("agents: listening"):
            break
    deadline = time.monotonic() + 20
    while len(_listening_pids(process, port)) < processes:  # the others bind a moment later
        assert time.monotonic() < deadline, "not every process listens"
        time.sleep(0.1)
    return process, port


def _children(process: subprocess.Popen[str]) -> list[int]:
    path = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def _listening_pids(process: subprocess.Popen[str], port: int) -> set[int]:
    """The processes (the first and its children) holding a listening socket on port."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:  # 0A: LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    holders = set()
    for pid in [process.pid, *_children(process)]:
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if links & inodes:
            holders.add(pid)
    return holders


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_processes_share_the_port_and_deliver(make_account: Any, subprocess_env: dict[str, str]) -> None:
    """Two processes listen on the MX port; every message sent gets 250 and is in the store;
    SIGTERM to the first stops both, with exit status 0."""
    make_account("hanako@example.test")
    process, port = _start(subprocess_env, 2)
    children = _children(process)
    try:
        assert len(children) == 1
        assert _listening_pids(process, port) == {process.pid, children[0]}
        for _ in range(20):
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
                assert client.sendmail("a@remote.example", ["hanako@example.test"], MESSAGE) == {}
        assert Message.objects.filter(folder__account__address="hanako@example.test").count() == 20
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert not _alive(children[0])


def test_per_address_limit_holds_across_processes(make_account: Any, subprocess_env: dict[str, str]) -> None:
    """YUBIN_SMTP_MAX_CONNECTIONS_PER_IP counts the sessions of all processes: of eight
    connections from one address with a limit of three, three are greeted and five refused."""
    process, port = _start(subprocess_env, 2, YUBIN_SMTP_MAX_CONNECTIONS_PER_IP="3")
    sockets = []
    try:
        greetings = []
        for _ in range(8):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sockets.append(sock)
            greetings.append(sock.recv(512)[:3])
        assert sorted(greetings) == [b"220"] * 3 + [b"421"] * 5
        for sock in sockets:
            sock.close()
        time.sleep(0.5)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:  # the counts went down again
            assert client.noop()[0] == 250
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def test_one_process_dying_stops_the_others(make_account: Any, subprocess_env: dict[str, str]) -> None:
    """A process that dies takes the others down (exit status 1), so a supervisor sees it."""
    process, _port = _start(subprocess_env, 3)
    children = _children(process)
    assert len(children) == 2
    os.kill(children[0], signal.SIGKILL)
    assert process.wait(30) == 1
    assert not any(_alive(pid) for pid in children)


def _allowed_cpus(pid: int) -> set[int]:
    return os.sched_getaffinity(pid)


def _connection_holder(pids: list[int], server_port: int, client_port: int) -> int | None:
    """The process holding the server side of the connection from client_port."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":"), fields[2].split(":")
        if int(local[1], 16) == server_port and int(remote[1], 16) == client_port:
            inode = f"socket:[{fields[9]}]"
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == inode:
                    return pid
            except OSError:
                continue
    return None


def _cpu_test_processes() -> list[int]:
    cpus = sorted(os.sched_getaffinity(0))
    if not 2 <= len(cpus) <= 8:
        pytest.skip("needs 2 to 8 CPUs to run one process per CPU")
    return cpus


def test_one_process_per_cpu_each_pinned_takes_the_connections_its_cpu_receives(
    make_account: Any, subprocess_env: dict[str, str]
) -> None:
    """With one process per CPU, each process is pinned to a CPU of its own, and a connection
    whose client runs on a CPU (on loopback: where its packets arrive) is served by the process
    pinned there."""
    cpus = _cpu_test_processes()
    process, port = _start(subprocess_env, len(cpus))
    own = os.sched_getaffinity(0)
    try:
        pids = [process.pid, *_children(process)]
        pinned = {pid: _allowed_cpus(pid) for pid in pids}
        assert sorted(cpu for allowed in pinned.values() for cpu in allowed) == cpus
        for cpu in cpus:
            os.sched_setaffinity(0, {cpu})
            for _ in range(20):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    assert sock.recv(512).startswith(b"220")
                    holder = _connection_holder(pids, port, sock.getsockname()[1])
                    assert holder is not None and pinned[holder] == {cpu}
    finally:
        os.sched_setaffinity(0, own)
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def test_cpu_affinity_off_leaves_the_processes_unpinned(make_account: Any, subprocess_env: dict[str, str]) -> None:
    cpus = _cpu_test_processes()
    process, _port = _start(subprocess_env, len(cpus), YUBIN_AGENTS_CPU_AFFINITY="0")
    try:
        assert all(_allowed_cpus(pid) == set(cpus) for pid in [process.pid, *_children(process)])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
