"""Real clients against the real server: Debian's offlineimap syncing both ways, neomutt reading.

offlineimap: new mail and a server-side flag change come down; a local flag change, a deletion
and a new local folder with a message go up; the store is compared afterwards. neomutt runs
under tmux, opens the first message, and the screen must show it; the store then has it \\Seen.
"""

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.agents.imap.conftest import ADDRESS, message
from tests.conftest import PASSWORD

pytestmark = pytest.mark.slow


def _offlineimap(imap, tmp_path: Path) -> None:
    config = tmp_path / "offlineimaprc"
    config.write_text(
        f"[general]\naccounts = yubin\nmetadata = {tmp_path}/meta\nui = basic\n\n"
        "[Account yubin]\nlocalrepository = local\nremoterepository = remote\n\n"
        f"[Repository local]\ntype = Maildir\nlocalfolders = {tmp_path}/mail\n\n"
        f"[Repository remote]\ntype = IMAP\nremotehost = {imap.host}\nremoteport = {imap.port}\n"
        f"remoteuser = {ADDRESS}\nremotepass = {PASSWORD}\nssl = no\nstarttls = no\n"
    )
    result = subprocess.run(
        ["offlineimap", "-c", str(config), "-o"], capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "ERROR" not in output, output


def _maildir_files(folder: Path) -> list[Path]:
    return sorted(list((folder / "cur").iterdir()) + list((folder / "new").iterdir()), key=lambda p: p.name)


def _store_inbox() -> list[tuple[str, int]]:
    from store.models import Message

    rows = Message.objects.filter(folder__account__address=ADDRESS, folder__name="INBOX").order_by("uid")
    return list(rows.values_list("subject", "flags"))


@pytest.mark.skipif(shutil.which("offlineimap") is None, reason="offlineimap not installed")
def test_offlineimap_both_ways(imap, tmp_path):
    """Both directions: store and Maildir agree on messages, flags and folders after each sync."""
    from store.models import Flag, Folder, Message
    from store.services import flags_set

    for number in range(4):
        imap.deliver(message(f"Offline {number}"))
    _offlineimap(imap, tmp_path)
    inbox = tmp_path / "mail" / "INBOX"
    files = _maildir_files(inbox)
    assert len(files) == 4
    assert sorted(p.read_bytes().split(b"Subject: ")[1].splitlines()[0] for p in files) == [
        b"Offline 0",
        b"Offline 1",
        b"Offline 2",
        b"Offline 3",
    ]

    # Local changes: flag one \Seen and \Flagged, delete one, a new folder with a message.
    by_uid = {int(p.name.split(",U=")[1].split(",")[0]): p for p in files}
    first = by_uid[1]
    first.rename(inbox / "cur" / (first.name.split(":2,")[0] + ":2,FS"))
    by_uid[2].unlink()
    projects = tmp_path / "mail" / "Projects"
    for sub in ("cur", "new", "tmp"):
        (projects / sub).mkdir(parents=True)
    (projects / "new" / "1700000000.1.host").write_bytes(message("Local only"))
    # Server changes: a new delivery and a flag set by another client.
    imap.deliver(message("Offline 4"))
    folder = Folder.objects.get(account__address=ADDRESS, name="INBOX")
    flags_set(folder_id=folder.pk, uids=[3], mode="add", flags=Flag.ANSWERED)

    _offlineimap(imap, tmp_path)
    stored = _store_inbox()
    assert [subject for subject, _ in stored] == ["Offline 0", "Offline 2", "Offline 3", "Offline 4"]
    assert stored[0][1] & Flag.SEEN and stored[0][1] & Flag.FLAGGED
    assert not stored[2][1] & Flag.SEEN
    projects_row = Folder.objects.get(account__address=ADDRESS, name="Projects")
    assert list(Message.objects.filter(folder=projects_row).values_list("subject", flat=True)) == ["Local only"]
    local = {int(p.name.split(",U=")[1].split(",")[0]): p.name.split(":2,")[1] for p in _maildir_files(inbox)}
    assert sorted(local) == [1, 3, 4, 5]
    assert "R" in local[3]  # the server-side \Answered came down
    assert "F" in local[1] and "S" in local[1]


@pytest.mark.skipif(shutil.which("neomutt") is None or shutil.which("tmux") is None, reason="neomutt/tmux missing")
def test_neomutt_reads_a_message(imap, tmp_path):
    """neomutt lists the INBOX, opens a message and shows its body; the message becomes \\Seen."""
    from store.models import Flag

    imap.deliver(message("Neomutt first", body="The body neomutt must show.\r\n"))
    imap.deliver(message("Neomutt second", body="Another body.\r\n", Date="Tue, 02 Jan 2024 10:00:00 +0000"))
    rc = tmp_path / "muttrc"
    rc.write_text(
        f'set folder="imap://{ADDRESS.replace("@", "%40")}@{imap.host}:{imap.port}/"\nset spoolfile="+INBOX"\n'
        f'set imap_pass="{PASSWORD}"\nset ssl_starttls=no\nset ssl_force_tls=no\nset header_cache=""\n'
        'set message_cachedir=""\nset sort=date\nset pager_stop=yes\n'
    )
    socket_name = f"yubin-test-{tmp_path.name}"
    tmux = ["tmux", "-L", socket_name]
    env_home = {"HOME": str(tmp_path), "TERM": "xterm", "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "160", "-y", "40", f"neomutt -n -F {rc}"], env=env_home, check=True
    )
    try:
        screen = _wait_for(tmux, "Neomutt second")
        assert "Neomutt first" in screen
        subprocess.run([*tmux, "send-keys", "Enter"], check=True)  # open the first (oldest) message
        screen = _wait_for(tmux, "The body neomutt must show.")
        assert "Subject: Neomutt first" in screen
        subprocess.run([*tmux, "send-keys", "q"], check=True)
        time.sleep(0.5)
        subprocess.run([*tmux, "send-keys", "q"], check=True)  # quit: neomutt writes the \Seen flag
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _store_inbox()[0][1] & Flag.SEEN:
            time.sleep(0.2)
        stored = _store_inbox()
        assert stored[0][1] & Flag.SEEN
        assert not stored[1][1] & Flag.SEEN
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)


def _wait_for(tmux: list[str], text: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True, check=False).stdout
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not on screen:\n{screen}")
