"""Settings for the test suite: the project's settings in a throw-away data directory.

Argon2 stays the hasher (what production uses), with a smaller memory cost so the suite's many
logins stay fast.
"""

import os
import tempfile

# One data directory per test process. pytest-xdist's workers inherit the controller's
# environment, so each adds its worker id: a shared directory would share the file cache, and one
# worker's cache.clear() would wipe another's throttle counts in the middle of a test. Child
# processes the tests start are handed the directory whole and keep it.
_data_dir = os.environ.get("YUBIN_DATA_DIR") or os.path.join(tempfile.gettempdir(), f"yubin-test-{os.getpid()}")
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker and not _data_dir.endswith(f"-{_worker}"):
    _data_dir = f"{_data_dir}-{_worker}"
os.environ["YUBIN_DATA_DIR"] = _data_dir
os.environ.setdefault("YUBIN_HOSTNAME", "mail.test")
os.environ.setdefault("YUBIN_ALLOW_PLAINTEXT_LOOPBACK", "1")

from yubin.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["yubin.hashers.TestArgon2PasswordHasher"]

# On Redis the cache is shared by every pytest worker: each keeps its own keys (the auth throttle
# counts per address and per account would otherwise cross between workers' tests), and the
# tests empty only their own (tests.cache_clear), never the whole database.
CACHES["default"]["KEY_PREFIX"] = _worker  # noqa: F405

# The same on a Redis broker: each worker's queues under its own key prefix, so one worker's test
# never consumes or purges the tasks another's is waiting for.
if _worker and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{_worker}:"}
