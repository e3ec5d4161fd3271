"""Settings for the test suite: the project's settings in a throw-away data directory.

Argon2 stays the hasher (what production uses), with a smaller memory cost so the suite's many
logins stay fast.
"""

import os
import tempfile

os.environ.setdefault("YUBIN_DATA_DIR", os.path.join(tempfile.gettempdir(), f"yubin-test-{os.getpid()}"))
os.environ.setdefault("YUBIN_HOSTNAME", "mail.test")
os.environ.setdefault("YUBIN_ALLOW_PLAINTEXT_LOOPBACK", "1")

from yubin.settings import *  # noqa: F403

PASSWORD_HASHERS = ["yubin.hashers.TestArgon2PasswordHasher"]

# On Redis the cache is shared by every pytest worker: each keeps its own keys (the auth throttle
# counts per address and per account would otherwise cross between workers' tests).
CACHES["default"]["KEY_PREFIX"] = os.environ.get("PYTEST_XDIST_WORKER", "")  # noqa: F405
