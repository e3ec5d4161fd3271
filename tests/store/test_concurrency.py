"""UID/MODSEQ invariants under concurrent writers in separate processes, and crash safety."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from store.blobs import TEMP_DIR_NAME
from store.models import Blob, Folder, Message

DELIVER_SCRIPT = """
import os, sys, django
django.setup()
from store.services import DeliveryTarget, message_deliver
account_id, count, tag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for i in range(count):
    raw = f"Subject: {tag} {i}\\r\\nMessage-ID: <{tag}.{i}@test>\\r\\n\\r\\n{'x' * (i % 50)}\\r\\n".encode()
    message_deliver(raw=raw, targets=[DeliveryTarget(account_id=account_id)])
"""

BIG_WRITER_SCRIPT = """
import os, sys, django
django.setup()
from store.services import DeliveryTarget, message_deliver
account_id = int(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    raw = b"Subject: big " + str(i).encode() + b"\\r\\n\\r\\n" + os.urandom(4 * 1024 * 1024).hex().encode() + b"\\r\\n"
    message_deliver(raw=raw, targets=[DeliveryTarget(account_id=account_id)])
    i += 1
"""


def run_writers(env: dict[str, str], account_id: int, per_process: int) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", DELIVER_SCRIPT, str(account_id), str(per_process), f"p{n}"], env=env)
        for n in range(2)
    ]
    for proc in procs:
        assert proc.wait(timeout=240) == 0


def test_two_processes_never_duplicate_or_reorder_uids(make_account, subprocess_env):
    """Two processes delivering into one folder at once: UIDs unique, dense and ascending with MODSEQ."""
    account = make_account("taro@example.test")
    run_writers(subprocess_env, account.pk, per_process=150)
    inbox = Folder.objects.get(account=account, name="INBOX")
    rows = list(Message.objects.filter(folder=inbox).order_by("uid").values_list("uid", "modseq", "subject"))
    uids = [uid for uid, _, _ in rows]
    assert uids == list(range(1, 301))
    modseqs = [modseq for _, modseq, _ in rows]
    assert modseqs == sorted(modseqs) and len(set(modseqs)) == 300
    assert inbox.uid_next == 301 and inbox.message_count == 300 and inbox.highest_modseq == modseqs[-1]
    # Each process's own messages keep their order: a later delivery never gets a smaller UID.
    for tag in ("p0", "p1"):
        numbers = [int(subject.split()[1]) for _, _, subject in rows if subject.startswith(tag)]
        assert numbers == sorted(numbers) and len(numbers) == 150


def blob_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.parent.name != TEMP_DIR_NAME]


def test_sigkill_mid_write_leaves_no_partial_blob(make_account, subprocess_env):
    """A writer killed mid-write leaves no partial blob under a blob name and no row without its file."""
    account = make_account("taro@example.test")
    for attempt in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", BIG_WRITER_SCRIPT, str(account.pk)],
            env=subprocess_env,
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.3 + 0.4 * attempt)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    root = Path(settings.YUBIN_BLOB_DIR)
    for path in blob_files(root):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, f"partial blob {path}"
    for digest in Message.objects.values_list("blob_id", flat=True):
        assert (root / digest[:2] / digest[2:4] / digest).is_file()
    for blob in Blob.objects.all():
        assert (root / blob.sha256[:2] / blob.sha256[2:4] / blob.sha256).stat().st_size == blob.size
