"""A throw-away Postfix instance: Debian's binaries, our own config and queue directories, smtpd on
one loopback port, no chroot, logging to a file. Each benchmark adds its own main.cf lines (where
mail goes) and services."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

MAIN_CF = """compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
maillog_file_prefixes = {root}
maillog_file = {root}/maillog
myhostname = postfix.bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
"""

# Debian's master.cf services without chroot, smtpd on our own loopback port.
MASTER_CF = """127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

DELIVERY_SERVICES = """local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
"""


class Postfix:
    """`main_cf`: extra main.cf lines; `services`: extra master.cf lines (e.g. DELIVERY_SERVICES)."""

    def __init__(self, root: Path, *, port: int, main_cf: str = "", services: str = "") -> None:
        self.root = root
        self.conf = root / "conf"
        self.port = port
        self.main_cf = main_cf
        self.services = services

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = ["/usr/sbin/postfix", "-c", str(self.conf), *args]
        return subprocess.run(command, check=False, capture_output=True, text=True)

    def start(self) -> None:
        for sub in ("conf", "queue", "data"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # the daemons run as the postfix user
        os.chmod(self.conf, 0o755)
        postfix_user = pwd.getpwnam("postfix")
        os.chown(self.root / "data", postfix_user.pw_uid, postfix_user.pw_gid)
        (self.conf / "main.cf").write_text(MAIN_CF.format(root=self.root) + self.main_cf)
        (self.conf / "master.cf").write_text(MASTER_CF.format(port=self.port) + self.services)
        self._postfix("set-permissions")
        started = self._postfix("start")
        if started.returncode != 0:
            log_file = self.root / "maillog"
            log_tail = log_file.read_text()[-2000:] if log_file.exists() else ""
            raise SystemExit(f"bench: postfix did not start: {started.stderr.strip()}\n{log_tail}")

    def stop(self) -> None:
        self._postfix("stop")
        shutil.rmtree(self.root, ignore_errors=True)
