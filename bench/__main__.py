"""`make bench`: run every benchmark under bench/ (each a package with a __main__), or those named.

python -m bench            # all
python -m bench store imap # some
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    # A benchmark is a package with a __main__; shared helpers (peers, ...) are packages without one.
    available = sorted(
        m.name for m in pkgutil.iter_modules([str(here)]) if m.ispkg and (here / m.name / "__main__.py").exists()
    )
    chosen = argv or available
    unknown = set(chosen) - set(available)
    if unknown:
        print(f"bench: unknown benchmark(s): {', '.join(sorted(unknown))}; have: {', '.join(available)}")
        return 1
    status = 0
    for name in chosen:
        print(f"\n=== bench/{name}", flush=True)
        result = subprocess.run([sys.executable, "-m", f"bench.{name}"], env=os.environ.copy(), check=False)
        status = status or result.returncode
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
