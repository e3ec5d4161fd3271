"""Fault injection for the durability test: SIGKILL this process at a named delivery stage.

Only active when the YUBIN_TEST_FAULT environment variable names the stage; otherwise every
call is a dictionary lookup and nothing else. Stages: "data" (while reading DATA), "blob"
(message files durable, rows written, nothing committed), "commit" (inside the transaction, before
COMMIT), "committed" (after COMMIT, before the 250 is written).
"""

from __future__ import annotations

import os
import signal

FAULT_STAGE = os.environ.get("YUBIN_TEST_FAULT", "")


def fault_point(stage: str) -> None:
    if FAULT_STAGE and FAULT_STAGE == stage:
        os.kill(os.getpid(), signal.SIGKILL)
