"""Real clients against the real server: Debian's mbsync (isync) syncing both ways."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.agents.imap.conftest import ADDRESS, message
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("mbsync") is None, reason="isync not installed")]


def _run_mbsync(imap, tmp_path: Path) -> None:
    maildir = tmp_path / "mail"
    maildir.mkdir(exist_ok=True)
    config = tmp_path / "mbsyncrc"
    config.write_text(
        f'IMAPAccount yubin\nHost {imap.host}\nPort {imap.port}\nUser {ADDRESS}\nPass "{PASSWORD}"\n'
        "SSLType None\nAuthMechs LOGIN\n\nIMAPStore remote\nAccount yubin\n\n"
        f"MaildirStore local\nPath {maildir}/\nInbox {maildir}/INBOX\nSubFolders Verbatim\n\n"
        "Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n"
    )
    result = subprocess.run(["mbsync", "-c", str(config), "-a"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr + result.stdout


def test_mbsync_both_ways(imap, tmp_path):
    """New mail comes down; a local new folder, a flag change and a deletion go up."""
    from store.models import Flag, Folder, Message

    for number in range(5):
        imap.deliver(message(f"Sync {number}"))
    _run_mbsync(imap, tmp_path)
    inbox = tmp_path / "mail" / "INBOX"
    downloaded = sorted((inbox / "cur").iterdir()) + sorted((inbox / "new").iterdir())
    assert len(downloaded) == 5
    # Local changes: mark one seen (",S" suffix), delete one, create a folder with a message.
    first, second = downloaded[0], downloaded[1]
    seen_name = first.name.split(",")[0] + ",S" if ":2," not in first.name else first.name + "S"
    first.rename(inbox / "cur" / seen_name)
    second.unlink()
    projects = tmp_path / "mail" / "Projects"
    for sub in ("cur", "new", "tmp"):
        (projects / sub).mkdir(parents=True)
    (projects / "new" / "1700000000.1.host").write_bytes(message("Local"))
    _run_mbsync(imap, tmp_path)
    inbox_row = Folder.objects.get(account__address=ADDRESS, name="INBOX")
    flags = list(Message.objects.filter(folder=inbox_row).order_by("uid").values_list("flags", flat=True))
    assert len(flags) == 4
    assert sum(1 for bits in flags if bits & Flag.SEEN) == 1
    projects_row = Folder.objects.get(account__address=ADDRESS, name="Projects")
    assert Message.objects.filter(folder=projects_row).count() == 1
