"""A throw-away Postfix instance (Debian's binaries, our own config directory) relaying to a sink."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

MAIN_CF = """compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
myhostname = postfix.bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink_port}
smtpd_relay_restrictions = permit_mynetworks, reject
smtp_tls_security_level = none
maillog_file_prefixes = {root}
maillog_file = {root}/maillog
"""

# Debian's master.cf services without chroot, smtpd on our own loopback port.
MASTER_CF = """127.0.0.1:{smtpd_port} inet n - n - - smtpd
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


class Postfix:
    def __init__(self, root: Path, *, smtpd_port: int, sink_port: int) -> None:
        self.root = root
        self.conf = root / "conf"
        self.smtpd_port = smtpd_port
        self.sink_port = sink_port

    def _postfix(self, *args: str) -> None:
        # `script` gives postfix a terminal: without syslog, its errors go there.
        command = " ".join(["/usr/sbin/postfix", "-c", str(self.conf), *args])
        subprocess.run(["script", "-qc", command, "/dev/null"], check=False, capture_output=True)

    def start(self) -> None:
        for sub in ("conf", "queue", "data"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chmod(self.conf, 0o755)
        postfix_user = pwd.getpwnam("postfix")
        os.chown(self.root / "data", postfix_user.pw_uid, postfix_user.pw_gid)
        values = {"root": self.root, "sink_port": self.sink_port, "smtpd_port": self.smtpd_port}
        (self.conf / "main.cf").write_text(MAIN_CF.format(**values))
        (self.conf / "master.cf").write_text(MASTER_CF.format(**values))
        self._postfix("start")

    def stop(self) -> None:
        self._postfix("stop")
        shutil.rmtree(self.root, ignore_errors=True)
