"""`python -m yubin.supervise`: run every Yubin process on one machine (what `make run` starts).

web (uvicorn, ASGI), agents (SMTP, IMAP, POP3, ManageSieve: YUBIN_AGENTS_PROCESSES processes, the
first of which starts and stops the others), and a Celery worker with beat. Prints where each
listens; Ctrl-C or SIGTERM stops them all; if one dies, the others are stopped too, so a broken
start is visible instead of half-running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yubin.settings")
STOP_TIMEOUT_SECONDS = 15


def _commands() -> dict[str, list[str]]:
    from django.conf import settings

    python = sys.executable
    return {
        "web": [
            python, "-m", "uvicorn", "yubin.asgi:application",
            "--host", settings.YUBIN_BIND, "--port", str(settings.YUBIN_PORT_HTTP), "--no-access-log",
        ],
        "agents": [python, "manage.py", "agents"],
        "worker": [python, "-m", "celery", "-A", "yubin", "worker", "--beat", "--concurrency", "2",
                   "--loglevel", "INFO", "--schedule", str(settings.CELERY_BEAT_SCHEDULE_FILENAME)],
    }  # fmt: skip


def main() -> int:
    django.setup()
    from django.conf import settings

    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for name, command in _commands().items():
        children[name] = subprocess.Popen(command, start_new_session=True)  # noqa: S603
    print(f"web:    http://{settings.YUBIN_BIND}:{settings.YUBIN_PORT_HTTP}/  (admin panel at /admin/)", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"supervise: {name} exited with status {child.returncode}; stopping the others", flush=True)
                stopping, exit_code = True, 1
                break
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)  # the leader stops its own workers (Celery's warm shutdown)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(child.pid, signal.SIGKILL)  # anything of its group still left
        except ProcessLookupError:
            pass
    print("supervise: all stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
